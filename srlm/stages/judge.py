"""Judge: M_t scores its own candidates with the LLM-as-a-judge prompt (resumable).

`judge.mode=sampled` samples `num_samples` verdicts per candidate and parses `Score: N` (unparsed
verdicts are kept as score null and counted); `expected_score` reads the score-token
probabilities. With `judge.compare_modes`, the cheap expected score is computed too and the
agreement of the two modes on pair order is reported.

Run by hand: `python -m srlm.stages.judge RUN_DIR ITERATION`.
"""

from __future__ import annotations

from srlm.config.checks import judgments_per_candidate
from srlm.config.run_config import enum_value
from srlm.core.io import read_jsonl
from srlm.evaluation import metrics
from srlm.inference.batches import RowPass, items_per_call, run_rows
from srlm.inference.engines import open_engine
from srlm.rewarding.scoring import judge_expected, judge_sampled, mean_scores
from srlm.rewarding.templates import load_template
from srlm.stages import current_model, main, stage_seed


def run(cfg, paths) -> dict:
    jc = cfg.judge
    template = load_template(jc.template)
    candidates = read_jsonl(paths.candidates)
    items = [{"id": c["candidate_id"], "prompt": c["prompt"], "response": c["text"]} for c in candidates]
    engine = open_engine(cfg, current_model(cfg, paths), jc.backend)
    mode = enum_value(jc.mode)
    modes = [mode] + (["expected_score"] if jc.compare_modes and mode == "sampled" else [])

    passes = [judge_pass(cfg, paths, engine, template, items, m) for m in modes]
    position = {c["candidate_id"]: i for i, c in enumerate(candidates)}
    try:
        rows = run_rows(
            paths.judgments,
            passes,
            items_per_call(jc.backend, jc.batch_size, cfg.generation.chunk_size),
            order=lambda r: (modes.index(r["mode"]), position[r["candidate_id"]], r["sample"]),
        )
    finally:
        engine.close()
    return judge_stats(rows, candidates, mode)


def judge_pass(cfg, paths, engine, template: str, items: list[dict], mode: str) -> RowPass:
    """Every candidate judged in `mode`: sampled verdicts, or expected scores."""
    jc = cfg.judge
    samples = judgments_per_candidate(jc, mode)

    def process(batch, seeds):
        if mode == "sampled":
            rows = judge_sampled(engine, template, batch, samples, jc, seeds)
        else:
            rows = judge_expected(engine, template, batch, jc, samples, seeds)
        return [as_row(r) for r in rows]

    return RowPass(
        items,
        process,
        seed=stage_seed(cfg, paths, f"judge-{mode}"),
        item_key=lambda it: f"{mode}|{it['id']}",
        length=lambda it: len(it["prompt"]) + len(it["response"]),
        row_id=lambda r: f"{r['mode']}|{r['candidate_id']}|{r['sample']}",
        row_item=lambda r: f"{r['mode']}|{r['candidate_id']}",
        rows_per_item=samples,
        desc=f"judge {mode} (iteration {paths.t})",
    )


def as_row(r: dict) -> dict:
    return {"candidate_id": r["id"], "mode": r["mode"], "sample": r["sample"], "score": r["score"], "raw": r["raw"]}


def judge_stats(rows: list[dict], candidates: list[dict], mode: str) -> dict:
    sampled = [r for r in rows if r["mode"] == "sampled"]
    stats = {"mode": mode, "judgments": len(rows)}
    if sampled:
        stats["parse_rate"] = sum(r["score"] is not None for r in sampled) / len(sampled)
        stats["unparsed"] = sum(r["score"] is None for r in sampled)
    keyed = [{**r, "id": r["candidate_id"]} for r in rows]
    primary = mean_scores(keyed, mode)
    scored = [s for s in primary.values() if s is not None]
    stats["mean_score"] = sum(scored) / len(scored) if scored else None
    distribution = metrics.score_distribution([r["score"] for r in rows if r["mode"] == mode])
    stats["top_score_share"] = distribution["top_score_share"]
    stats["score_shares"] = distribution["shares"]
    if mode == "sampled" and any(r["mode"] == "expected_score" for r in rows):
        stats["mode_pair_agreement"] = pair_order_agreement(primary, mean_scores(keyed, "expected_score"), candidates)
    return stats


def pair_order_agreement(a: dict, b: dict, candidates: list[dict]) -> float | None:
    """Fraction of candidate pairs (same prompt, both scored and untied under both) ordered alike."""
    by_prompt: dict[str, list[str]] = {}
    for c in candidates:
        by_prompt.setdefault(c["prompt_id"], []).append(c["candidate_id"])
    agree = total = 0
    for ids in by_prompt.values():
        for i, x in enumerate(ids):
            for y in ids[i + 1 :]:
                if None in (a.get(x), a.get(y), b.get(x), b.get(y)) or a[x] == a[y] or b[x] == b[y]:
                    continue
                total += 1
                agree += (a[x] > a[y]) == (b[x] > b[y])
    return agree / total if total else None


if __name__ == "__main__":
    raise SystemExit(main("judge"))
