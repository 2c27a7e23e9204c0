"""Reward audit: the self-judge against the verifier, on an iteration's own candidates for verifiable prompts.

- `judge_verifier_accuracy`: over candidate pairs of one prompt that pass different numbers of constraints, the
  share the judge orders as the verifier does (a judge tie or a missing score is wrong, as RewardBench counts);
- `spearman`: rank correlation of self-score and the share of constraints passed, over the scored candidates of
  the prompts whose candidates the verifier tells apart;
- pair precision: the share of the DPO pairs whose chosen candidate passes strictly more / as many / fewer
  constraints than its rejected one;
- `mean_self_score` beside `verified_pass_rate` (candidates passing every constraint) and
  `verified_instruction_rate` (constraints passed), to be read across iterations: a judge that scores higher
  while the verifier passes less is being gamed (`drift_warning`);
- `chance_warning`: the iterations whose judge is not shown better than a coin against the verifier (its
  interval reaches 0.5): its pairs need not teach the instructions, whatever the self-scores say.
Intervals are 95%: bootstrap over prompts (pairs and candidates of a prompt share it), Wilson for shares of pairs.
"""

from __future__ import annotations

import math
from itertools import combinations

from scipy import stats

from srlm.evaluation import metrics


def _prompt_units(candidates: list[dict], scores: dict, verified: dict) -> list[list[tuple[float | None, float]]]:
    """Per verifiable prompt, (self-score, share of constraints passed) of each candidate."""
    by_prompt: dict[str, list[tuple[float | None, float]]] = {}
    for c in candidates:
        v = verified.get(c["candidate_id"])
        if v is not None:
            by_prompt.setdefault(c["prompt_id"], []).append((scores.get(c["candidate_id"]), v["passed"] / v["total"]))
    return list(by_prompt.values())


def _pair_counts(units: list[list[tuple]]) -> tuple[int, int, int]:
    """(judge agrees, judge ties or has no score, verifier-ordered pairs)."""
    agree = tie = total = 0
    for unit in units:
        for (sa, va), (sb, vb) in combinations(unit, 2):
            if va == vb:
                continue
            total += 1
            if sa is None or sb is None or sa == sb:
                tie += 1
            elif (sa > sb) == (va > vb):
                agree += 1
    return agree, tie, total


def _accuracy(units: list[list[tuple]]) -> float | None:
    agree, _, total = _pair_counts(units)
    return agree / total if total else None


def _ordered(units: list[list[tuple]]) -> list[list[tuple]]:
    """The prompts with at least one pair of candidates the verifier orders (the units of the accuracy)."""
    return [u for u in units if len({v for _, v in u}) > 1]


def _spearman(units: list[list[tuple]]) -> float | None:
    """None when the verifier passes every candidate alike; 0 when the judge scores them all alike (it ranks
    nothing, as `metrics.judge_human_agreement` counts a constant judge)."""
    points = [(s, v) for unit in units for s, v in unit if s is not None]
    if len(points) < 3 or len({v for _, v in points}) < 2:
        return None
    if len({s for s, _ in points}) < 2:
        return 0.0
    rho = stats.spearmanr([s for s, _ in points], [v for _, v in points])[0]
    return float(rho) if math.isfinite(rho) else None


def pair_precision(pairs: list[dict], verified: dict) -> dict:
    """How the DPO pairs' chosen candidates compare with their rejected ones under the verifier."""
    outcomes = []
    for p in pairs:
        a, b = verified.get(p.get("chosen_id")), verified.get(p.get("rejected_id"))
        if p.get("kind", "actor") == "actor" and a is not None and b is not None:
            outcomes.append((a["passed"] > b["passed"]) - (a["passed"] < b["passed"]))
    n = len(outcomes)
    more, same, fewer = (sum(o == k for o in outcomes) for k in (1, 0, -1))
    return {
        "verifiable_pairs": n,
        "chosen_passes_more_share": more / n if n else None,
        "chosen_passes_more_share_interval": metrics.wilson_interval(more, n),
        "chosen_passes_same_share": same / n if n else None,
        "chosen_passes_fewer_share": fewer / n if n else None,
        "chosen_passes_fewer_share_interval": metrics.wilson_interval(fewer, n),
    }


def audit(candidates: list[dict], scores: dict, verified: dict, pairs: list[dict], seed: int = 0) -> dict:
    """The audit of one iteration; `scores`: self-judge score per candidate id, `verified`: the verifier's
    `{passed, total}` per candidate id of a verifiable prompt, `pairs`: the iteration's DPO pairs."""
    units = _prompt_units(candidates, scores, verified)
    agree, tie, total = _pair_counts(units)
    checked = [verified[c["candidate_id"]] for c in candidates if c["candidate_id"] in verified]
    self_scores = [scores.get(c["candidate_id"]) for c in candidates if c["candidate_id"] in verified]
    scored = [s for s in self_scores if s is not None]
    passing = sum(v["passed"] == v["total"] for v in checked)
    return {
        "verifiable_candidates": len(checked),
        "verifier_ordered_pairs": total,
        "judge_verifier_accuracy": agree / total if total else None,
        "judge_verifier_accuracy_interval": metrics.bootstrap_interval(_ordered(units), _accuracy, seed),
        "judge_tie_share": tie / total if total else None,
        "spearman": _spearman(_ordered(units)),
        "spearman_interval": metrics.bootstrap_interval(_ordered(units), _spearman, seed),
        **pair_precision(pairs, verified),
        "mean_self_score": sum(scored) / len(scored) if scored else None,
        "verified_pass_rate": passing / len(checked) if checked else None,
        "verified_pass_rate_interval": metrics.wilson_interval(passing, len(checked)),
        "verified_instruction_rate": (
            sum(v["passed"] for v in checked) / sum(v["total"] for v in checked) if checked else None
        ),
    }


def drift_warning(by_iteration: dict[int, dict]) -> str | None:
    """A warning line when, from one iteration to the next, the mean self-score rises while the verified pass
    rate falls (the judge rewards what the verifier does not); None otherwise."""
    ordered = sorted((t, a) for t, a in by_iteration.items() if a.get("mean_self_score") is not None)
    found = []
    for (t0, a), (t1, b) in zip(ordered, ordered[1:]):
        if None in (a.get("verified_pass_rate"), b.get("verified_pass_rate")):
            continue
        if b["mean_self_score"] > a["mean_self_score"] and b["verified_pass_rate"] < a["verified_pass_rate"]:
            found.append(
                f"iteration {t0} -> {t1}: self-score {a['mean_self_score']:.2f} -> {b['mean_self_score']:.2f}, "
                f"verified pass rate {a['verified_pass_rate']:.2f} -> {b['verified_pass_rate']:.2f}"
            )
    if not found:
        return None
    return "warning: self-scores rise while verified accuracy falls (reward hacking?): " + "; ".join(found)


def chance_warning(by_iteration: dict[int, dict]) -> str | None:
    """A warning line naming the iterations whose judge-vs-verifier interval reaches 0.5 (the judge is not shown
    to order candidates better than a coin); None when every audited judge is above chance."""
    found = []
    for t, a in sorted(by_iteration.items()):
        accuracy, interval = a.get("judge_verifier_accuracy"), a.get("judge_verifier_accuracy_interval")
        if accuracy is not None and interval and interval[0] <= 0.5:
            found.append(f"iteration {t} {accuracy:.2f} [{interval[0]:.2f}, {interval[1]:.2f}]")
    if not found:
        return None
    return "warning: the judge is not shown better than chance against the verifier: " + "; ".join(found)
