"""chunking: vLLM generation fed 8 prompts per call (as srlm did) vs whole chunks (`generation.chunk_size`).

One vLLM engine serves both ways of feeding it, on the recipe's generation (`prompts.per_iteration` prompts,
`generation.num_candidates` candidates, its temperature and top-p; 32 new tokens each, not the recipe's 96, to keep
the section short on a CPU), then on 4x the prompts. Rows
go through `run_batches` and are written (fsynced) after every call, as the generate stage writes them. Which way
runs first alternates between repeats; the ratio chunked / per-8 is taken within a repeat, so load on a shared
machine moves both figures alike. The roofline share sets each figure against the model's FLOPs per token and
this device's measured matmul throughput (`benchmarks.roofline`).

    python -m benchmarks.run --only chunking --repeats 1      # ~5 min on 2 idle CPU cores, embedded model
"""

from __future__ import annotations

import importlib
import json
from functools import partial

from benchmarks import roofline
from benchmarks.common import Bench, alternating, summarize, timed
from benchmarks.data import eval_prompts
from benchmarks.engines import prompts_at_1x
from benchmarks.generate import generate_candidates, warm_up
from srlm.inference.batches import items_per_call
from srlm.inference.engines.vllm import unavailable_reason

BEFORE = 8  # prompts per engine call before chunking (generation.batch_size of every recipe)
NOTES = (
    "Absolute tokens/s move with any other load on the machine; the two ways of feeding the engine run side by "
    "side in one repeat, alternating which goes first, so their ratio holds."
)


def max_new_tokens(bench: Bench) -> int:
    """New tokens per candidate: fewer than the recipe's by default, to keep the section to minutes on a CPU."""
    return bench.sizes.chunking_max_new_tokens or bench.cfg.generation.max_new_tokens


def tokens_per_s(engine, bench: Bench, prompts: list[dict], per_call: int, seed: int) -> float:
    """Generated tokens/s of the recipe's generation of `prompts`, `per_call` prompts per engine call."""
    gen = bench.cfg.generation
    args = (bench, prompts, gen.num_candidates, max_new_tokens(bench), seed, per_call, engine)
    rows, seconds = timed(generate_candidates, *args)
    return sum(r["tokens"] for r in rows) / seconds


def point(engine, bench: Bench, prompts: list[dict], repeats: int) -> dict:
    """Both ways at one size over the repeats, and chunked / per-8 within each repeat."""
    gen = bench.cfg.generation
    chunk = items_per_call("vllm", gen.batch_size, gen.chunk_size)
    runs = []
    for r in range(repeats):
        seed = bench.repeat_seed("chunking", len(prompts), r)
        print(f"[bench] chunking: {len(prompts)} prompts, {BEFORE} vs {chunk} per call (repeat {r + 1})", flush=True)
        measure = partial(tokens_per_s, engine, bench, prompts)
        before, chunked = alternating(r, partial(measure, BEFORE), partial(measure, chunk), seed)
        runs.append({"per_8": before, "chunked": chunked})
    figures = {
        "prompts": len(prompts),
        "sequences": len(prompts) * gen.num_candidates,
        "prompts_per_call": {"per_8": BEFORE, "chunked": min(chunk, len(prompts))},
        "per_8_tokens_per_s": summarize([r["per_8"] for r in runs]),
        "chunked_tokens_per_s": summarize([r["chunked"] for r in runs]),
        "chunked_vs_per_8": summarize([r["chunked"] / r["per_8"] for r in runs])["median"],
    }
    print(f"[bench] chunking: {json.dumps(figures)}", flush=True)  # in the log even if a later size is cut short
    return figures


def measure(bench: Bench) -> dict:
    from srlm.inference.engines.vllm import VllmEngine

    cfg = bench.cfg
    gen = cfg.generation
    base = prompts_at_1x(bench)
    sizes = {f"{f}x": eval_prompts(cfg.data, base * f) for f in bench.sizes.engine_prompt_factors}
    vllm, startup = timed(VllmEngine, bench.model_dir(), gen, seed=bench.seed, dtype=cfg.model.dtype)
    try:
        warm_up(vllm)
        by_prompts = {s: point(vllm, bench, p, bench.repeats) for s, p in sizes.items()}
    finally:
        vllm.close()
    return {
        "vllm_version": importlib.import_module("vllm").__version__,
        "candidates_per_prompt": gen.num_candidates,
        "max_new_tokens": max_new_tokens(bench),
        "chunk_size": gen.chunk_size,
        "vllm_startup_s": round(startup, 1),
        "by_prompts": by_prompts,
        "chunked_vs_per_8_min": min(p["chunked_vs_per_8"] for p in by_prompts.values()),
        "notes": NOTES,
    }


def run(bench: Bench, results: dict) -> dict:
    reason = unavailable_reason()
    if reason:
        print(f"[bench] chunking: skipped ({reason})", flush=True)
        return {"skipped": reason}
    roof = roofline.measure(bench)
    out = measure(bench)
    figures = {
        f"{way}_{scale}": point[f"{way}_tokens_per_s"]["median"]
        for scale, point in out["by_prompts"].items()
        for way in ("per_8", "chunked")
    }
    roof["fractions"] = roofline.fractions(roof, figures)
    return {**out, "roofline": roof}
