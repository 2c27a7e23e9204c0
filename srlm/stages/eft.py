"""EFT builder (iteration 0, before SFT): IFT data, and judge examples whose scores agree with human ranks.

Ranked OASST replies get verdicts from `eft.verdict_source`:
- `sft_baseline`: an SFT of the base model on the IFT data alone, trained by the `sft_baseline` stage
  just before this one (the paper's section 3: a base model writes almost no verdict that parses),
- `model`: the base model as it is (needs a model that already writes parseable verdicts),
- `teacher`: another judge model (`eft.teacher`),
- `written`: verdicts written for the seed set (`data.verdicts`, keyed by message_id),
- `human_rank`: a score derived from the human rank, with a rubric-level justification.
With `eft.verifiable`, the verifier's verdicts on the base model's answers to verifiable prompts join them
(`srlm.rewarding.verifiable_seed`).
A prompt's verdicts are kept only when their scores order the replies as the humans did; the most
common score is thinned by `eft.drop_score_fraction` (paper: part of the 4s). A held-out split of
ranked prompts (`eft_eval.jsonl`) is what evaluation measures judge-human agreement on.

Run by hand: `python -m srlm.stages.eft RUN_DIR 0`.
"""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

from srlm.config.run_config import enum_value
from srlm.core import distributed
from srlm.core.errors import SrlmError
from srlm.core.io import read_jsonl, write_json, write_jsonl
from srlm.data.prompt_sets import report_shortfall
from srlm.data.seed import seed_data
from srlm.inference.batches import RowPass, items_per_call, run_rows
from srlm.inference.engines import open_engine
from srlm.models.resolve import model_path, resolve_model
from srlm.rewarding.scoring import judge_sampled
from srlm.rewarding.templates import fill, load_template
from srlm.rewarding.verdicts import parse_score
from srlm.rewarding.verifiable_seed import verifiable_seed
from srlm.stages import main, stage_seed

LEVELS = {
    0: "The response is not relevant to the question and gives no useful information.",
    1: "The response is relevant and gives some related information, but leaves most of the question open.",
    2: "The response covers a substantial part of the question but does not fully answer it.",
    3: "The response answers the basic elements of the question usefully, but is not complete or well organized.",
    4: "The response answers the question directly and completely, clearly and helpfully; slight room to improve.",
    5: "The response is accurate, focused and insightful, tailored to the question as an expert would.",
}


def rank_score(rank: int, n: int) -> int:
    """Score 5 for the best of n replies down to 1 or 0 for the worst, evenly spaced."""
    return max(0, 5 - round(rank * 4 / max(n - 1, 1)))


def verdicts_for(cfg, paths, train: list[dict], template: str) -> dict[str, list[tuple[str, int | None]]]:
    """message_id -> list of (verdict text, parsed score) from the configured source."""
    source = enum_value(cfg.eft.verdict_source)
    replies = [(p, r) for p in train for r in p["replies"]]
    if source == "human_rank":
        out = {}
        for p in train:
            for r in p["replies"]:
                s = rank_score(r["rank"], len(p["replies"]))
                out[r["message_id"]] = [(f"{LEVELS[s]}\nScore: {s}", s)]
        return out
    if source == "written":
        path = Path(cfg.data.verdicts or "")
        if not path.exists():
            raise SrlmError(f"eft.verdict_source=written needs data.verdicts; {path} does not exist")
        written = {}
        for i, row in enumerate(read_jsonl(path), 1):
            if "message_id" not in row or "verdict" not in row:
                raise SrlmError(f"{path}:{i}: expected fields `message_id` and `verdict`")
            written[row["message_id"]] = [(row["verdict"], parse_score(row["verdict"]))]
        return {r["message_id"]: written[r["message_id"]] for _, r in replies if r["message_id"] in written}
    judge_dir = verdict_model(cfg, paths, source)
    items = [{"id": r["message_id"], "prompt": p["prompt"], "response": r["text"]} for p, r in replies]
    out: dict[str, list] = {}
    for row in model_verdicts(cfg, paths, judge_dir, items, template):
        out.setdefault(row["id"], []).append((row["raw"], row["score"]))
    return out


def verdict_model(cfg, paths, source: str) -> str:
    """The model that writes the verdicts of a model source."""
    if source == "sft_baseline":
        if not (paths.baseline_model / "config.json").exists():
            raise SrlmError(f"{paths.baseline_model}: the IFT-only SFT baseline is missing; run stage sft_baseline")
        return str(paths.baseline_model)
    return model_path(cfg) if source == "model" else resolve_model(cfg.eft.teacher or "")


def model_verdicts(cfg, paths, judge_dir: str, items: list[dict], template: str) -> list[dict]:
    """One sampled verdict per reply from a judge model, resumable (`eft_judgments.jsonl`), over ranks.

    One, as the paper's EFT data has: a reply's several samples would let the filter keep whichever verdict happens
    to agree with the human rank (`judge.num_samples` is how the loop's judge averages, not used here).
    """
    samples = 1
    engine = open_engine(cfg, judge_dir, cfg.eft.backend)
    verdicts = RowPass(
        items,
        lambda batch, seeds: judge_sampled(engine, template, batch, samples, cfg.judge, seeds),
        seed=stage_seed(cfg, paths, "eft-verdicts"),
        item_key=lambda it: it["id"],
        length=lambda it: len(it["prompt"]) + len(it["response"]),
        row_id=lambda r: f"{r['id']}|{r['sample']}",
        row_item=lambda r: r["id"],
        rows_per_item=samples,
        desc="eft verdicts",
    )
    try:
        batch_size = items_per_call(cfg.eft.backend, cfg.judge.batch_size, cfg.generation.chunk_size)
        return run_rows(paths.eft_judgments, [verdicts], batch_size, order=lambda r: (r["id"], r["sample"]))
    finally:
        engine.close()


def agreeing_examples(train: list[dict], verdicts: dict, template: str) -> tuple[list[dict], Counter]:
    """Judge examples of prompts whose verdict scores strictly decrease with human rank."""
    examples, counts = [], Counter()
    for p in train:
        chosen = []
        for r in p["replies"]:
            parsed = [(v, s) for v, s in verdicts.get(r["message_id"], []) if s is not None]
            if not parsed:
                break
            chosen.append((r, *parsed[0]))
        if len(chosen) < len(p["replies"]):
            counts["dropped_unparsed"] += 1
            continue
        scores = [s for _, _, s in chosen]
        if any(a <= b for a, b in zip(scores, scores[1:])):
            counts["dropped_disagree"] += 1
            continue
        counts["prompts_kept"] += 1
        for r, verdict, score in chosen:
            user = fill(template, prompt=p["prompt"], response=r["text"])
            examples.append(
                {
                    "prompt_id": p["prompt_id"],
                    "prompt": p["prompt"],  # the OASST prompt judged (overlap checks); `messages` holds the rubric
                    "message_id": r["message_id"],
                    "score": score,
                    "messages": [{"role": "user", "content": user}, {"role": "assistant", "content": verdict}],
                }
            )
    return examples, counts


def rebalance(examples: list[dict], fraction: float, seed: int) -> tuple[list[dict], int]:
    """Drop `fraction` of the examples with the most common score (seeded)."""
    if not examples or fraction <= 0:
        return examples, 0
    common = Counter(e["score"] for e in examples).most_common(1)[0][0]
    pool = [e for e in examples if e["score"] == common]
    drop = {id(e) for e in random.Random(seed).sample(pool, int(len(pool) * fraction))}
    return [e for e in examples if id(e) not in drop], len(drop)


def run(cfg, paths) -> dict:
    seed = stage_seed(cfg, paths, "eft")
    ift, train, held_out = seed_data(cfg, paths)
    writer = distributed.is_rank_zero()  # several ranks share the model verdicts; rank 0 writes the files
    stats = {"ift": len(ift), "ranked_prompts": len(train) + len(held_out), "eval_prompts": len(held_out)}
    stats["ift_shortfall"] = report_shortfall("iteration 0: IFT examples (data.ift_size)", len(ift), cfg.data.ift_size)
    if cfg.eft.enabled:
        template = load_template(cfg.judge.template)
        examples, counts = agreeing_examples(train, verdicts_for(cfg, paths, train, template), template)
        for e in examples:
            e["source"] = enum_value(cfg.eft.verdict_source)
        if cfg.eft.verifiable:  # the verifier's verdicts on the base model's answers (srlm.rewarding.verifiable_seed)
            extra_ift, verified, verifiable_counts = verifiable_seed(cfg, paths, template)
            examples += [{**e, "source": "verifier"} for e in verified]
            counts.update(verifiable_counts)
            if writer and extra_ift:
                write_jsonl(paths.ift, ift + extra_ift)
            ift = ift + extra_ift
        examples, dropped = rebalance(examples, cfg.eft.drop_score_fraction, seed)
        if writer:
            write_jsonl(paths.eft_train, examples)
        stats.update(
            counts,
            eft=len(examples),
            dropped_common_score=dropped,
            score_counts={str(k): v for k, v in sorted(Counter(e["score"] for e in examples).items())},
        )
    if writer:
        write_json(paths.eft_stats, stats)
    return stats


if __name__ == "__main__":
    raise SystemExit(main("eft"))
