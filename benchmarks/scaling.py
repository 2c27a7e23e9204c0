"""scaling: generate + judge (expected score) time as the prompts grow 1x, 2x, 4x and as N grows.

Each point generates N candidates per prompt with srlm's batched sampling (short replies) and judges
them all by expected score; time per prompt and per candidate show whether the cost grows linearly.
"""

from __future__ import annotations

from benchmarks.common import Bench, summarize, timed
from benchmarks.data import eval_prompts
from benchmarks.generate import generate_candidates
from benchmarks.judge import judge_all, judge_config, judge_items


def point(bench: Bench, n_prompts: int, n: int, seed: int) -> dict[str, float]:
    """Seconds to generate `n` candidates for each of `n_prompts` prompts, and to judge them."""
    prompts = eval_prompts(bench.cfg.data, n_prompts)
    candidates, gen_s = timed(generate_candidates, bench, prompts, n, bench.sizes.scaling_max_new_tokens, seed)
    _, judge_s = timed(judge_all, bench, judge_items(candidates), "expected_score", 1, judge_config(bench), seed)
    return {"generate_s": gen_s, "judge_s": judge_s, "total_s": gen_s + judge_s}


def describe(n_prompts: int, n: int, runs: list[dict]) -> dict:
    """One point's figures: stage times, and total time per prompt and per candidate."""
    totals = [r["total_s"] for r in runs]
    return {
        "prompts": n_prompts,
        "candidates_per_prompt": n,
        "generate_s": summarize([r["generate_s"] for r in runs]),
        "judge_s": summarize([r["judge_s"] for r in runs]),
        "total_s": summarize(totals),
        "s_per_prompt": summarize([t / n_prompts for t in totals]),
        "s_per_candidate": summarize([t / (n_prompts * n) for t in totals]),
    }


def relative(points: list[dict], key: str) -> list[dict]:
    """Add `<key>_vs_first`: 1.0 where the cost per unit stays what it is at the first (smallest) point."""
    first = points[0][key]["median"]
    return [{**p, f"{key}_vs_first": round(p[key]["median"] / first, 4) if first else None} for p in points]


def run(bench: Bench) -> dict:
    s = bench.sizes
    n_base = s.gen_candidates
    by_prompts = [(s.scaling_prompts * f, n_base) for f in s.scaling_factors]
    by_candidates = [(s.scaling_prompts, n) for n in s.scaling_candidates]
    grid = list(dict.fromkeys(by_prompts + by_candidates))
    runs: dict[tuple[int, int], list[dict]] = {g: [] for g in grid}
    for r in range(bench.repeats):
        print(f"[bench] scaling: repeat {r + 1}/{bench.repeats} ({len(grid)} points)", flush=True)
        for p, n in grid:
            runs[(p, n)].append(point(bench, p, n, bench.repeat_seed("scaling", p, n, r)))
    return {
        "max_new_tokens": s.scaling_max_new_tokens,
        "judge_mode": "expected_score",
        "by_prompts": relative([describe(p, n, runs[(p, n)]) for p, n in by_prompts], "s_per_prompt"),
        "by_candidates": relative([describe(p, n, runs[(p, n)]) for p, n in by_candidates], "s_per_candidate"),
    }
