"""engines: srlm's HF engine vs its vLLM engine on the benchmark's model, at the recipe's sizes and at 4x the prompts.

Both engines do the same work, batched as the stages batch it (`run_batches`, the recipe's batch sizes):
- generate: `generation.num_candidates` candidates for each of `prompts.per_iteration` prompts (then 4x
  as many prompts) with the recipe's max_new_tokens, temperature and top-p, in generated tokens/s;
- judge: the HF engine's candidates of the same repeat, judged by `judge.num_samples` sampled verdicts
  and by expected score, in candidates/s.

Start-up is the time to construct an engine, model load included (and, for vLLM, its import). One vLLM
engine serves the whole section, so its start-up is measured once; an HF engine is built every repeat.
Which engine runs first alternates between repeats; ratios are vLLM / HF within a repeat. On the CPU,
vLLM runs in this process and binds its OpenMP threads to the cores, so the HF engine runs under that
binding too. The section is skipped, with the reason, where vLLM cannot run; its roofline part
(`benchmarks.roofline`, measured before vLLM starts) runs either way.
"""

from __future__ import annotations

import importlib
from functools import partial

from benchmarks import roofline
from benchmarks.common import Bench, alternating, summarize, timed
from benchmarks.data import eval_prompts
from benchmarks.generate import generate_candidates, warm_up
from benchmarks.judge import judge_all, judge_items
from srlm.inference.engines import Engine
from srlm.inference.engines.hf import HfEngine
from srlm.inference.engines.vllm import unavailable_reason

BACKENDS = ("hf", "vllm")


def generate_part(engine: Engine, bench: Bench, prompts: list[dict], seed: int) -> dict:
    """The recipe's generation of candidates for `prompts` on one engine: the rows, tokens and tokens/s."""
    gen = bench.cfg.generation
    n, max_new = gen.num_candidates, gen.max_new_tokens
    rows, seconds = timed(generate_candidates, bench, prompts, n, max_new, seed, gen.batch_size, engine)
    tokens = sum(r["tokens"] for r in rows)
    return {"rows": rows, "tokens": tokens, "tokens_per_s": tokens / seconds}


def judge_part(engine: Engine, bench: Bench, items: list[dict], mode: str, seed: int) -> dict:
    """Candidates/s of the recipe's judging of `items` in one mode on one engine."""
    jc = bench.cfg.judge
    samples = jc.num_samples if mode == "sampled" else 1
    _, seconds = timed(judge_all, bench, items, mode, samples, jc, seed, engine)
    return {"candidates_per_s": len(items) / seconds}


def on_both(repeat: int, engines: dict[str, Engine], fn, *args) -> dict:
    """`{backend: fn(engine, *args)}` for both engines, the one that runs first alternating between repeats."""
    hf, vllm = alternating(repeat, partial(fn, engines["hf"]), partial(fn, engines["vllm"]), *args)
    return {"hf": hf, "vllm": vllm}


def point(bench: Bench, engines: dict[str, Engine], prompts: list[dict], repeat: int) -> dict:
    """One repeat at one size: generation on both engines, then both judge modes on HF's candidates."""
    seed = bench.repeat_seed("engines", len(prompts), repeat)
    print(f"[bench] engines: {len(prompts)} prompts, generate then judge, on both engines", flush=True)
    generated = on_both(repeat, engines, generate_part, bench, prompts, seed)
    items = judge_items(generated["hf"]["rows"])
    for part in generated.values():
        del part["rows"]
    return {
        "generate": generated,
        "judge_sampled": on_both(repeat, engines, judge_part, bench, items, "sampled", seed),
        "judge_expected": on_both(repeat, engines, judge_part, bench, items, "expected_score", seed),
    }


def one_repeat(bench: Bench, vllm: Engine, sizes: dict[str, list[dict]], repeat: int) -> dict:
    """A fresh HF engine (its start-up timed), then every size on both engines."""
    hf, startup = timed(HfEngine, bench.model_dir(), bench.cfg.model.dtype)
    try:
        warm_up(hf)
        engines = {"hf": hf, "vllm": vllm}
        return {"hf_startup_s": startup, **{s: point(bench, engines, p, repeat) for s, p in sizes.items()}}
    finally:
        hf.close()


def compare(runs: list[dict], unit: str) -> dict:
    """Both engines' figure over the repeats, and vLLM / HF within each repeat."""
    ratio = summarize([r["vllm"][unit] / r["hf"][unit] for r in runs])
    return {
        **{f"{b}_{unit}": summarize([r[b][unit] for r in runs]) for b in BACKENDS},
        "vllm_vs_hf": ratio["median"],
        "vllm_vs_hf_stats": ratio,
    }


def describe(runs: list[dict], prompts: int, n: int) -> dict:
    """One size's figures over the repeats."""
    generated = [r["generate"] for r in runs]
    return {
        "prompts": prompts,
        "candidates": prompts * n,
        "generate": {
            **compare(generated, "tokens_per_s"),
            **{f"{b}_tokens": summarize([g[b]["tokens"] for g in generated]) for b in BACKENDS},
        },
        "judge_sampled": compare([r["judge_sampled"] for r in runs], "candidates_per_s"),
        "judge_expected": compare([r["judge_expected"] for r in runs], "candidates_per_s"),
    }


def prompts_at_1x(bench: Bench) -> int:
    """The recipe's prompts per iteration (fewer in a quick run)."""
    return bench.sizes.engine_prompts or bench.cfg.prompts.per_iteration


def measure(bench: Bench) -> dict:
    """Start the vLLM engine once, run every repeat against it, close it."""
    cfg = bench.cfg
    gen, jc = cfg.generation, cfg.judge
    base, factors = prompts_at_1x(bench), bench.sizes.engine_prompt_factors
    sizes = {f"{f}x": eval_prompts(cfg.data, base * f) for f in factors}
    from srlm.inference.engines.vllm import VllmEngine

    print("[bench] engines: starting the vLLM engine", flush=True)
    vllm, startup = timed(VllmEngine, bench.model_dir(), gen, seed=bench.seed, dtype=cfg.model.dtype)
    runs = []
    try:
        warm_up(vllm)
        for r in range(bench.repeats):
            print(f"[bench] engines: repeat {r + 1}/{bench.repeats} ({', '.join(sizes)} prompts)", flush=True)
            runs.append(one_repeat(bench, vllm, sizes, r))
    finally:
        vllm.close()
    return {
        "vllm_version": importlib.import_module("vllm").__version__,
        "prompts_at_1x": base,
        "prompt_factors": list(factors),
        "candidates_per_prompt": gen.num_candidates,
        "max_new_tokens": gen.max_new_tokens,
        "temperature": gen.temperature,
        "top_p": gen.top_p,
        "batch_size": gen.batch_size,
        "judge_samples": jc.num_samples,
        "judge_max_new_tokens": jc.max_new_tokens,
        "judge_batch_size": jc.batch_size,
        "startup_s": {"hf": summarize([r["hf_startup_s"] for r in runs]), "vllm": summarize([startup])},
        "by_prompts": {s: describe([r[s] for r in runs], len(p), gen.num_candidates) for s, p in sizes.items()},
    }


def guarded_measure(bench: Bench) -> dict:
    """`measure`, or its error (the roofline still lands)."""
    try:
        return measure(bench)
    except Exception as e:  # noqa: BLE001 - recorded in the results
        print(f"[bench] engines: failed: {e}", flush=True)
        return {"error": f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"}


def run(bench: Bench, results: dict) -> dict:
    roof = roofline.measure(bench)
    reason = unavailable_reason()
    if reason:
        print(f"[bench] engines: skipped ({reason})", flush=True)
        out = {"skipped": reason}
    else:
        out = guarded_measure(bench)
    roof["fractions"] = roofline.fractions(roof, roofline.decode_figures(results, out))
    return {**out, "roofline": roof}
