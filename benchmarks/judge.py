"""judge: candidates judged per second, sampled verdicts (k samples) vs the expected score, and how often they agree.

The candidates are human-ranked replies of the seed set (2-4 per prompt), batched as the judge stage
batches them. Agreement is the judge stage's own `pair_order_agreement`, over pairs of the same prompt
untied under both modes; it is null, with the reason, when no sampled verdict parsed.
"""

from __future__ import annotations

from functools import partial

from omegaconf import OmegaConf

from benchmarks.common import Bench, alternating, in_batches, median_or_none, summarize, timed
from benchmarks.data import seed_candidates
from srlm.inference.engines import Engine
from srlm.rewarding.scoring import judge_expected, judge_sampled, mean_scores
from srlm.rewarding.templates import load_template
from srlm.stages.judge import pair_order_agreement


def judge_config(bench: Bench):
    """The recipe's judge settings, with the benchmark's verdict length where it sets one."""
    jc = OmegaConf.to_container(bench.cfg.judge, resolve=True, enum_to_str=True)
    if bench.sizes.judge_max_new_tokens is not None:
        jc["max_new_tokens"] = bench.sizes.judge_max_new_tokens
    return OmegaConf.create(jc)


def judge_items(candidates: list[dict]) -> list[dict]:
    return [
        {
            "key": c["candidate_id"],
            "id": c["candidate_id"],
            "prompt": c["prompt"],
            "response": c["text"],
            "length": len(c["prompt"]) + len(c["text"]),
        }
        for c in candidates
    ]


def judge_all(
    bench: Bench, items: list[dict], mode: str, samples: int, jc, seed: int, engine: Engine | None = None
) -> list[dict]:
    """Judgment rows (`id`, `mode`, `sample`, `score`, `raw`) of every item in one mode (default: the HF engine)."""
    engine = engine or bench.engine()
    template = load_template(jc.template)

    def process(batch: list[dict], seeds: list[int]) -> list[dict]:
        if mode == "sampled":
            rows = judge_sampled(engine, template, batch, samples, jc, seeds)
        else:
            rows = judge_expected(engine, template, batch, jc)
        return [{**r, "key": r["id"]} for r in rows]

    return in_batches(
        bench, items, process, jc.batch_size, seed, samples, lambda r: f"{r['id']}|{r['sample']}", f"judge {mode}"
    )


def agreement(sampled: list[dict], expected: list[dict], candidates: list[dict]) -> tuple[float | None, float]:
    """(pair-order agreement of the two modes, parse rate of the sampled verdicts)."""
    parse_rate = sum(r["score"] is not None for r in sampled) / max(len(sampled), 1)
    a = mean_scores(sampled, "sampled")
    b = mean_scores(expected, "expected_score")
    return pair_order_agreement(a, b, candidates), parse_rate


def no_agreement_reason(parse_rates: list[float]) -> str:
    if max(parse_rates, default=0.0) == 0.0:
        return "no sampled verdict parsed (parse rate 0): the model writes no `Score: N` line"
    return "no candidate pair was scored and untied under both modes"


def run(bench: Bench) -> dict:
    s = bench.sizes
    jc = judge_config(bench)
    candidates = seed_candidates(bench.cfg.data, s.judge_prompts)
    items = judge_items(candidates)
    sampled_rate, expected_rate, speedups, agreements, parse_rates = [], [], [], [], []
    for r in range(bench.repeats):
        print(f"[bench] judge: repeat {r + 1}/{bench.repeats}", flush=True)
        seed = bench.repeat_seed("judge", r)
        (sampled, ts), (expected, te) = alternating(
            r,
            partial(timed, judge_all, bench, items, "sampled", s.judge_samples),
            partial(timed, judge_all, bench, items, "expected_score", 1),
            jc,
            seed,
        )
        sampled_rate.append(len(items) / ts)
        expected_rate.append(len(items) / te)
        speedups.append(ts / te)
        agree, parse = agreement(sampled, expected, candidates)
        agreements.append(agree)
        parse_rates.append(parse)
    speedup = summarize(speedups)
    out = {
        "candidates": len(items),
        "prompts": len({c["prompt_id"] for c in candidates}),
        "samples_per_candidate": s.judge_samples,
        "max_new_tokens": jc.max_new_tokens,
        "batch_size": jc.batch_size,
        "expected_after_justification": bool(jc.expected_after_justification),
        "sampled_candidates_per_s": summarize(sampled_rate),
        "expected_candidates_per_s": summarize(expected_rate),
        "speedup_expected_vs_sampled": speedup["median"],
        "speedup_expected_vs_sampled_stats": speedup,
        "parse_rate": summarize(parse_rates),
        "pair_agreement": median_or_none(agreements),
        "pair_agreement_runs": agreements,
    }
    if out["pair_agreement"] is None:
        out["pair_agreement_reason"] = no_agreement_reason(parse_rates)
    return out
