"""generate: srlm's batched sampling vs one prompt and one sequence at a time, in generated tokens per second.

Both sides sample the same prompts, N sequences each, with the same max_new_tokens, temperature and
top-p; tokens are counted up to the first EOS or padding token.
"""

from __future__ import annotations

import time

import torch

from benchmarks.common import Bench, alternating, in_batches, summarize, timed
from benchmarks.data import eval_prompts
from srlm.inference.engines import Engine


def produced(ids: list[int], stop_ids: set[int]) -> int:
    """Tokens generated before the first EOS or padding token (as srlm's engines count them)."""
    return next((j for j, t in enumerate(ids) if t in stop_ids), len(ids))


def generate_candidates(
    bench: Bench,
    prompts: list[dict],
    n: int,
    max_new_tokens: int,
    seed: int,
    batch_size: int | None = None,
    engine: Engine | None = None,
) -> list[dict]:
    """`n` candidates per prompt from an srlm engine (default: the shared HF one), batched as the generate stage.

    Rows: `key` (the prompt id), `prompt_id`, `candidate_id`, `prompt`, `text`, `tokens`.
    """
    engine = engine or bench.engine()
    gen = bench.cfg.generation
    items = []
    for p in prompts:
        chat = engine.chat(p["prompt"])
        items.append({"key": p["prompt_id"], "length": len(chat), "chat": chat, "prompt": p["prompt"]})

    def process(batch: list[dict], seeds: list[int]) -> list[dict]:
        chats = [it["chat"] for it in batch]
        outs = engine.sample(chats, n, max_new_tokens, gen.temperature, gen.top_p, seeds)
        return [
            {
                "key": it["key"],
                "prompt_id": it["key"],
                "candidate_id": f"{it['key']}/c{j}",
                "prompt": it["prompt"],
                "text": o["text"],
                "tokens": o["completion_tokens"],
            }
            for it, cands in zip(batch, outs)
            for j, o in enumerate(cands)
        ]

    size = batch_size or gen.batch_size
    return in_batches(bench, items, process, size, seed, n, lambda r: r["candidate_id"], "generate")


def batched(
    bench: Bench,
    prompts: list[dict],
    n: int,
    max_new_tokens: int,
    seed: int,
    batch_size: int | None = None,
    engine: Engine | None = None,
) -> tuple[int, float]:
    """(tokens, seconds) of srlm's batched generation of `n` sequences per prompt."""
    rows, seconds = timed(generate_candidates, bench, prompts, n, max_new_tokens, seed, batch_size, engine)
    return sum(r["tokens"] for r in rows), seconds


@torch.no_grad()
def sequential(bench: Bench, prompts: list[dict], n: int, max_new_tokens: int, seed: int) -> tuple[int, float]:
    """(tokens, seconds) of plain `model.generate`, one prompt and one sequence per call."""
    engine = bench.engine()
    model, tok = engine.model, engine.tokenizer
    gen = bench.cfg.generation
    stop_ids = {*engine.eos_ids, tok.pad_token_id}
    torch.manual_seed(seed)
    tokens, start = 0, time.perf_counter()
    for p in prompts:
        enc = tok(engine.chat(p["prompt"]), return_tensors="pt", add_special_tokens=False).to(model.device)
        for _ in range(n):
            out = model.generate(
                **enc,
                do_sample=True,
                temperature=gen.temperature,
                top_p=gen.top_p,
                top_k=None,
                max_new_tokens=max_new_tokens,
                pad_token_id=tok.pad_token_id,
                eos_token_id=engine.eos_ids,
                use_cache=True,
            )
            tokens += produced(out[0, enc.input_ids.shape[1] :].tolist(), stop_ids)
    return tokens, time.perf_counter() - start


def warm_up(engine: Engine) -> None:
    """One short generation, so that first-call costs land in no timing."""
    engine.sample([engine.chat("Hello")], 2, 4, 0.7, 0.9, seeds=[0])


def run(bench: Bench) -> dict:
    s = bench.sizes
    prompts = eval_prompts(bench.cfg.data, s.gen_prompts)
    warm_up(bench.engine())
    seq_rate, bat_rate, seq_tokens, bat_tokens, speedups = [], [], [], [], []
    for r in range(bench.repeats):
        print(f"[bench] generate: repeat {r + 1}/{bench.repeats}", flush=True)
        seed = bench.repeat_seed("generate", r)
        (st, ss), (bt, bs) = alternating(
            r, sequential, batched, bench, prompts, s.gen_candidates, s.gen_max_new_tokens, seed
        )
        seq_tokens.append(st)
        bat_tokens.append(bt)
        seq_rate.append(st / ss)
        bat_rate.append(bt / bs)
        speedups.append((bt / bs) / (st / ss))
    gen = bench.cfg.generation
    speedup = summarize(speedups)
    return {
        "prompts": len(prompts),
        "candidates_per_prompt": s.gen_candidates,
        "max_new_tokens": s.gen_max_new_tokens,
        "temperature": gen.temperature,
        "top_p": gen.top_p,
        "batch_size": gen.batch_size,
        "batched_tokens_per_s": summarize(bat_rate),
        "sequential_tokens_per_s": summarize(seq_rate),
        "batched_tokens": summarize(bat_tokens),
        "sequential_tokens": summarize(seq_tokens),
        "speedup_vs_sequential": speedup["median"],
        "speedup_vs_sequential_stats": speedup,
    }
