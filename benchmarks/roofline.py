"""roofline: the decode tokens/s figures against what this machine's matmul throughput allows.

The limit is the model's forward FLOPs per generated token (2 x non-embedding parameters, plus the LM
head's 2 x hidden x vocab; attention over the context left out) divided into the float32 matmul
throughput measured with torch on the model's device, at torch's thread count, for a large square
matmul (what the hardware can do) and a decode-shaped one (a batch of 32 sequences through a 576 -> 1536
projection, what a small model's decode step looks like). The tokens/s figures include prefill, so the
fractions are a lower bound on the share of the limit their decode steps reach. On the CPU the matmuls
are also timed on one thread: small matmuls split over cores that other work also uses can run far
slower than on one core.
"""

from __future__ import annotations

import contextlib
import math
import time

import torch

from benchmarks.common import Bench, summarize
from srlm.models.precision import device

SHAPES = {"square": (2048, 2048, 2048), "decode": (32, 576, 1536)}  # (m, k, n): [m, k] @ [k, n]
MIN_RUN_S = 0.2  # each run repeats the matmul for at least this long


def sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def matmul_gflops(m: int, k: int, n: int, runs: int) -> list[float]:
    """GFLOPS of `runs` timed runs of [m, k] @ [k, n] in float32, each long enough to time."""
    dev = device()
    a, b = torch.randn(m, k, device=dev), torch.randn(k, n, device=dev)
    c = torch.empty(m, n, device=dev)
    for _ in range(3):
        torch.mm(a, b, out=c)
    sync(dev)
    start = time.perf_counter()
    torch.mm(a, b, out=c)
    sync(dev)
    iters = max(1, math.ceil(MIN_RUN_S / max(time.perf_counter() - start, 1e-9)))
    rates = []
    for _ in range(runs):
        start = time.perf_counter()
        for _ in range(iters):
            torch.mm(a, b, out=c)
        sync(dev)
        rates.append(2 * m * k * n * iters / (time.perf_counter() - start) / 1e9)
    return rates


@contextlib.contextmanager
def one_thread():
    """torch on one thread inside the block; yields False where the count cannot be changed (vLLM freezes it)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def all_shapes(runs: int) -> dict:
    return {name: summarize(matmul_gflops(*shape, runs), 2) for name, shape in SHAPES.items()}


def model_flops(path: str) -> dict:
    """Forward FLOPs per token of the model at `path`, from its config (no weights loaded)."""
    from transformers import AutoConfig, AutoModelForCausalLM

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(path))
    embed, head = model.get_input_embeddings().weight, model.get_output_embeddings().weight
    total = sum(p.numel() for p in model.parameters())  # a tied LM head is counted once
    non_embedding = total - embed.numel() - (0 if head is embed else head.numel())
    return {
        "non_embedding_params": non_embedding,
        "lm_head_params": head.numel(),
        "gflop_per_token": (2 * non_embedding + 2 * head.numel()) / 1e9,
    }


def decode_figures(results: dict, engines: dict) -> dict[str, float]:
    """Median generated tokens/s of every generate part that ran: the generate section's and the engines'."""
    figures = {}
    gen = results.get("generate") or {}
    for part in ("batched", "sequential"):
        if f"{part}_tokens_per_s" in gen:
            figures[f"generate_{part}"] = gen[f"{part}_tokens_per_s"]["median"]
    for scale, point in engines.get("by_prompts", {}).items():
        for backend in ("hf", "vllm"):
            figures[f"{backend}_{scale}"] = point["generate"][f"{backend}_tokens_per_s"]["median"]
    return figures


def measure(bench: Bench) -> dict:
    """Matmul throughput and the model's FLOPs per token (before any figure is set against them)."""
    runs = bench.sizes.roofline_runs
    gflops = all_shapes(runs)
    flops = model_flops(bench.model_dir())
    out = {
        "dtype": "float32",
        "device": str(device()),
        "torch_threads": torch.get_num_threads(),
        "matmul_shapes": {name: f"{m}x{k} @ {k}x{n}" for name, (m, k, n) in SHAPES.items()},
        "matmul_gflops": gflops,
        **flops,
        "gflop_per_token": float(f"{flops['gflop_per_token']:.4g}"),
        "tokens_per_s_limit": {name: round(g["median"] / flops["gflop_per_token"], 1) for name, g in gflops.items()},
    }
    if device().type == "cpu" and torch.get_num_threads() > 1:
        with one_thread() as ok:
            if ok:
                out["matmul_gflops_one_thread"] = all_shapes(runs)
    return out


def fractions(roofline: dict, figures: dict[str, float]) -> dict:
    """Each tokens/s figure as a fraction of each limit."""
    limits = roofline["tokens_per_s_limit"]
    return {
        name: {"tokens_per_s": tps, **{f"of_{k}_limit": round(tps / v, 4) for k, v in limits.items()}}
        for name, tps in figures.items()
    }
