"""The seed data of iteration 0: IFT examples and the ranked prompts EFT builds verdicts on, split once."""

from __future__ import annotations

import random

from srlm.core import distributed
from srlm.core.errors import SrlmError
from srlm.core.io import write_jsonl
from srlm.core.seeds import stage_seed
from srlm.data.oasst import build_ift, load_messages, ranked_responses


def split_prompts(ranked: list[dict], eval_fraction: float, seed: int) -> tuple[list[dict], list[dict]]:
    order = sorted(ranked, key=lambda r: r["prompt_id"])
    random.Random(seed).shuffle(order)
    n_eval = round(len(order) * eval_fraction)
    return order[n_eval:], order[:n_eval]


def seed_data(cfg, paths) -> tuple[list[dict], list[dict], list[dict]]:
    """(IFT examples, ranked train prompts, held-out ranked prompts), the same on every rank and every call.

    Rank 0 writes `ift.jsonl` and `eft_eval.jsonl`; the others use the rows they computed themselves.
    """
    ift, train, held_out = seed_sets(cfg, paths)
    if distributed.is_rank_zero():
        write_jsonl(paths.ift, ift)
        write_jsonl(paths.eft_eval, held_out)
    return ift, train, held_out


def seed_sets(cfg, paths) -> tuple[list[dict], list[dict], list[dict]]:
    """`seed_data` without writing anything (what the seed stages will train on, known before they run)."""
    seed = stage_seed(cfg, paths, "eft")
    messages = load_messages(cfg.data.oasst, cfg.data.oasst_split)
    ranked = ranked_responses(messages, cfg.data.lang)[: cfg.eft.max_prompts]
    train, held_out = split_prompts(ranked, cfg.eft.eval_fraction, seed)
    held_ids = {p["prompt_id"] for p in held_out}
    ift = [e for e in build_ift(messages, len(messages), seed, cfg.data.lang) if e["prompt_id"] not in held_ids]
    ift = ift[: cfg.data.ift_size]
    if not ift:
        raise SrlmError(
            f"{cfg.data.oasst}: no IFT examples (first-turn prompts with a rank-0 reply, lang={cfg.data.lang})"
        )
    return ift, train, held_out
