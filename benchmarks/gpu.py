"""gpu (CUDA only): HF batched vs vLLM generation in tokens/s, and DPO tokens/s with peak GPU memory.

Skipped with a message where no CUDA device is visible; the vLLM part is skipped with the reason where
vLLM cannot run. A part that fails is recorded with its error, so the other results still land. Both
engines count a sequence's tokens up to, not including, its EOS token.
"""

from __future__ import annotations

import torch

from benchmarks import dpo
from benchmarks.common import Bench, summarize, timed
from benchmarks.data import seed_prompts
from benchmarks.generate import batched
from srlm.config.compose import compose
from srlm.inference.engines.vllm import unavailable_reason

VLLM_MEMORY_FRACTION = 0.5  # of the GPU; the same process has held HF models before


def hf_generate(bench: Bench, prompts: list[dict]) -> dict:
    """srlm's HF generation with every prompt in one batch."""
    s = bench.sizes
    batched(bench, prompts[:1], 1, 4, 0)
    rates = []
    for r in range(bench.repeats):
        tokens, seconds = batched(
            bench, prompts, s.gpu_candidates, s.gpu_max_new_tokens, bench.repeat_seed("gpu-hf", r), len(prompts)
        )
        rates.append(tokens / seconds)
    return {"batch_size": len(prompts), "tokens_per_s": summarize(rates)}


def vllm_generate(bench: Bench, prompts: list[dict]) -> dict:
    """srlm's vLLM engine on the same prompts and sizes, all in one call (start-up and a first call not timed)."""
    reason = unavailable_reason()
    if reason:
        return {"skipped": reason}
    from srlm.inference.engines.vllm import VllmEngine

    s = bench.sizes
    bench.release_model()
    torch.cuda.empty_cache()
    cfg = compose(
        bench.overrides("generation.backend=vllm", f"generation.gpu_memory_utilization={VLLM_MEMORY_FRACTION}")
    )
    gen = cfg.generation
    rates = []
    with VllmEngine(bench.model_dir(), gen, seed=bench.seed, dtype=cfg.model.dtype) as engine:
        chats = [engine.chat(p["prompt"]) for p in prompts]
        engine.sample(chats[:1], 1, 4, gen.temperature, gen.top_p, seeds=[0])
        for r in range(bench.repeats):
            seeds = [bench.repeat_seed("gpu-vllm", r, p["prompt_id"]) for p in prompts]
            args = (chats, s.gpu_candidates, s.gpu_max_new_tokens, gen.temperature, gen.top_p, seeds)
            outs, seconds = timed(engine.sample, *args)
            rates.append(sum(c["completion_tokens"] for o in outs for c in o) / seconds)
    return {"tokens_per_s": summarize(rates)}


def dpo_on_gpu(bench: Bench, results: dict) -> dict:
    """DPO tokens/s and peak memory: from the dpo section when it ran on this GPU, else measured now."""
    bench.release_model()
    measured = results.get("dpo") or dpo.run(bench)
    keys = (
        "srlm_s_per_step",
        "srlm_tokens_per_s",
        "trl_tokens_per_s",
        "srlm_peak_memory_bytes",
        "trl_peak_memory_bytes",
    )
    return {k: measured[k] for k in keys if k in measured}


def guarded(fn, *args) -> dict:
    """Run one part; its error, not a traceback, goes to the results."""
    try:
        return fn(*args)
    except Exception as e:  # noqa: BLE001 - recorded in the results, the other parts still run
        print(f"[bench] gpu: {fn.__name__} failed: {e}", flush=True)
        return {"error": f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"}


def run(bench: Bench, results: dict) -> dict:
    if not torch.cuda.is_available():
        print("[bench] gpu: skipped (no CUDA device)", flush=True)
        return {"skipped": "no CUDA device"}
    s = bench.sizes
    prompts = seed_prompts(bench.cfg.data, s.gpu_prompts)
    print(f"[bench] gpu: {torch.cuda.get_device_name(0)}", flush=True)
    out = {
        "device": torch.cuda.get_device_name(0),
        "prompts": len(prompts),
        "candidates_per_prompt": s.gpu_candidates,
        "max_new_tokens": s.gpu_max_new_tokens,
        "hf_generate": guarded(hf_generate, bench, prompts),
        "dpo": guarded(dpo_on_gpu, bench, results),
        "vllm_generate": guarded(vllm_generate, bench, prompts),
    }
    hf, vllm = out["hf_generate"].get("tokens_per_s"), out["vllm_generate"].get("tokens_per_s")
    if hf and vllm:
        out["vllm_speedup_vs_hf"] = round(vllm["median"] / hf["median"], 4)
    return out
