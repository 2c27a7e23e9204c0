"""Meta-judge (`meta.enabled`): M_t compares two of its own judgments of one response, in both orders (resumable).

For every candidate with at least two judgments whose scores differ, each pair of its judgments is shown to
the model with the judge's rubric, once as (A, B) and once as (B, A). `meta.mode=sampled` writes a comparison
and parses its last `Better judgment: A|B` (unparsed verdicts are kept as winner null and counted);
`probability` reads P(A) and P(B) right after the cue, and a pair's battle is then decided over both orders (so
a constant position bias cancels). Each row keeps the verdict of its own order, from which the position bias
is reported. The pairs stage rates the judgments from these battles (Bradley-Terry) and makes judge pairs.

Run by hand: `python -m srlm.stages.meta_judge RUN_DIR ITERATION`.
"""

from __future__ import annotations

import random

from srlm.config.run_config import enum_value
from srlm.core import distributed
from srlm.core.errors import SrlmError
from srlm.core.io import read_jsonl, write_json
from srlm.data.prompt_sets import too_long
from srlm.inference.batches import RowPass, items_per_call, run_rows
from srlm.inference.engines import open_engine
from srlm.rewarding.judgments import judgment_rows
from srlm.rewarding.meta_judge import (
    CUE,
    PLACEHOLDERS,
    comparisons,
    judgment_id,
    parse_meta_verdict,
    position_stats,
)
from srlm.rewarding.scoring import cue_tokens
from srlm.rewarding.templates import fill, load_template
from srlm.stages import current_model, main, stage_seed

RUBRIC_STAND_INS = {"prompt": "[the user's question, shown above]", "response": "[the response, shown above]"}


def chosen_candidates(cfg, paths, rows: list[dict]) -> list[dict]:
    """At most `meta.max_responses` candidates' comparisons (a seeded choice of candidates), all by default."""
    limit = cfg.meta.max_responses
    candidates = sorted({r["candidate_id"] for r in rows})
    if limit is None or len(candidates) <= limit:
        return rows
    kept = set(random.Random(stage_seed(cfg, paths, "meta_sample")).sample(candidates, limit))
    return [r for r in rows if r["candidate_id"] in kept]


def meta_items(cfg, paths) -> list[dict]:
    """One item per ordered comparison, its prompt the meta-judge template filled with both judgments."""
    judgments = judgment_rows(cfg, paths)
    texts = {judgment_id(j["candidate_id"], j["sample"]): j["text"] for j in judgments}
    candidates = {c["candidate_id"]: c for c in read_jsonl(paths.candidates)}
    template = load_template(cfg.meta.template, PLACEHOLDERS)
    rubric = fill(load_template(cfg.judge.template), **RUBRIC_STAND_INS)
    items = []
    for row in chosen_candidates(cfg, paths, comparisons(judgments)):
        candidate = candidates[row["candidate_id"]]
        text = fill(
            template,
            prompt=candidate["prompt"],
            response=candidate["text"],
            rubric=rubric,
            judgment_a=texts[row["a"]],
            judgment_b=texts[row["b"]],
        )
        items.append({**row, "prompt_id": candidate["prompt_id"], "meta_prompt": text})
    return items


def within_context(engine, items: list[dict], mc) -> tuple[list[dict], int]:
    """The items whose prompt leaves room for the meta-judge's reply in the engine's context (vLLM refuses a
    longer one; HF sets no limit), and how many were left out."""
    limit = engine.max_context()
    if limit is None:
        return items, 0
    room = limit - (1 if enum_value(mc.mode) == "probability" else mc.max_new_tokens)
    kept = [it for it in items if not too_long(engine.chat(it["meta_prompt"]), engine.tokenizer, room)]
    if len(kept) < len(items):
        print(
            f"[srlm] meta-judge: {len(items) - len(kept)} of {len(items)} comparison(s) left out: their prompt leaves "
            f"no room for the reply in the model's {limit}-token context",
            flush=True,
        )
    return kept, len(items) - len(kept)


def probability_verdict(p_a: float | None) -> tuple[str | None, str, float | None]:
    """(winner, what is kept as the raw verdict, p(A)) from p(A) = P(A) / (P(A) + P(B))."""
    if p_a is None:
        return None, "p(A) undefined: no probability on A or B", None
    return ("A" if p_a > 0.5 else "B" if p_a < 0.5 else None), f"p(A) {p_a:.4f}", round(p_a, 6)


def meta_verdicts(engine, items: list[dict], mc, seeds: list[int]) -> list[dict]:
    """One row per item: its winner ("A", "B" or None) and what the meta-judge wrote or how likely A was."""
    prompts = [engine.chat(it["meta_prompt"]) for it in items]
    if enum_value(mc.mode) == "probability":
        cue, ids = label_tokens(engine.tokenizer)
        probs = engine.next_token_probs([p + cue for p in prompts], list(ids))
        mass = probs.sum(dim=1)
        p_a = [float(a / m) if m > 0 else None for a, m in zip(probs[:, 0], mass)]  # no mass on A or B: no verdict
        found = [probability_verdict(p) for p in p_a]
    else:
        outs = engine.sample(prompts, 1, mc.max_new_tokens, mc.temperature, 1.0, seeds)
        found = [(parse_meta_verdict(o[0]["text"]), o[0]["text"], None) for o in outs]
    keep = ("id", "candidate_id", "prompt_id", "a", "b")
    return [{**{k: it[k] for k in keep}, "winner": w, "p_a": p, "raw": raw} for it, (w, raw, p) in zip(items, found)]


def label_tokens(tokenizer) -> tuple[str, tuple[int, int]]:
    found = cue_tokens(tokenizer, f"{CUE} ", ["A", "B"])
    if found is None:
        raise SrlmError("meta.mode=probability needs a tokenizer with one token each for A and B after the cue")
    return found


def run(cfg, paths) -> dict:
    mc = cfg.meta
    items = meta_items(cfg, paths)
    engine = open_engine(cfg, current_model(cfg, paths), mc.backend) if items else None
    items, too_long = within_context(engine, items, mc) if engine is not None else (items, 0)
    comparisons = RowPass(
        items,
        lambda batch, seeds: meta_verdicts(engine, batch, mc, seeds),
        seed=stage_seed(cfg, paths, "meta_judge"),
        item_key=lambda it: it["id"],
        length=lambda it: len(it["meta_prompt"]),
        row_id=lambda r: r["id"],
        row_item=lambda r: r["id"],
        desc=f"meta-judge (iteration {paths.t})",
    )
    position = {it["id"]: i for i, it in enumerate(items)}
    try:
        batch_size = items_per_call(mc.backend, mc.batch_size, cfg.generation.chunk_size)
        rows = run_rows(paths.meta_judgments, [comparisons], batch_size, order=lambda r: position[r["id"]])
    finally:
        if engine is not None:
            engine.close()
    stats = {"responses": len({r["candidate_id"] for r in rows}), "too_long_for_context": too_long}
    stats.update(position_stats(rows))
    if distributed.is_rank_zero():
        write_json(paths.meta_stats, stats)
    return stats


if __name__ == "__main__":
    raise SystemExit(main("meta_judge"))
