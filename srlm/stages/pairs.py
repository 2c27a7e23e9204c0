"""Pairs: per prompt, the highest- vs the lowest-scored candidate; ties and unscored candidates dropped.

Scores come from `judge.source` (`srlm.rewarding.pair_sources`: the self-judge, the verifier or random). Candidates of
verifiable prompts are checked by the verifier (`verified.jsonl`) and the reward audit of the self-judge against
it is written (`reward_audit.json`, `srlm.evaluation.reward_audit`).

With `meta.enabled`, judge pairs join them (kind `judge`): per response, the best- vs the worst-rated of its
judgments by the meta-judge's battles, the prompt being the judge prompt of that response.

Run by hand: `python -m srlm.stages.pairs RUN_DIR ITERATION`.
"""

from __future__ import annotations

import statistics

from srlm.config.run_config import enum_value
from srlm.core.errors import SrlmError
from srlm.core.io import read_jsonl, write_json, write_jsonl
from srlm.evaluation import reward_audit
from srlm.rewarding.pair_rules import choose_pair
from srlm.rewarding.pair_sources import source_scores, verify_candidates
from srlm.rewarding.scoring import mean_scores
from srlm.rewarding.templates import fill, load_template
from srlm.stages import main, stage_seed


def build_pairs(
    candidates: list[dict],
    scores: dict[str, float | None],
    length_control: bool = False,
    length_margin: float = 0.0,
    min_gap: float = 0.0,
) -> tuple[list[dict], dict]:
    """Chosen = highest mean score, rejected = lowest; a candidate without a score is never used.

    With `length_control`, Meta-Rewarding's rule: the chosen one is the shortest among those within
    `length_margin` x (score range) of the top score, the rejected one the longest within it of the lowest.
    A prompt whose best and worst scores differ by `min_gap` or less (ties) gives no pair.
    """
    by_prompt: dict[str, list[dict]] = {}
    for c in candidates:
        by_prompt.setdefault(c["prompt_id"], []).append(c)
    pairs, dropped_tie, dropped_missing = [], 0, 0
    for prompt_id, cands in by_prompt.items():
        scored = [c for c in cands if scores.get(c["candidate_id"]) is not None]
        if len(scored) < 2:
            dropped_missing += 1
            continue
        picked = choose_pair(
            scored,
            score=lambda c: scores[c["candidate_id"]],
            length=(lambda c: len(c["text"])) if length_control else (lambda c: 0),
            margin=length_margin if length_control else 0.0,
            key=lambda c: c["candidate_id"],
        )
        if picked is None or scores[picked[0]["candidate_id"]] - scores[picked[1]["candidate_id"]] <= min_gap:
            dropped_tie += 1
            continue
        chosen, rejected = picked
        pairs.append(
            {
                "kind": "actor",
                "prompt_id": prompt_id,
                "prompt": chosen["prompt"],
                "chosen": chosen["text"],
                "rejected": rejected["text"],
                "chosen_score": scores[chosen["candidate_id"]],
                "rejected_score": scores[rejected["candidate_id"]],
                "chosen_id": chosen["candidate_id"],
                "rejected_id": rejected["candidate_id"],
            }
        )
    stats = {
        "prompts": len(by_prompt),
        "pairs": len(pairs),
        "dropped_ties": dropped_tie,
        "dropped_missing": dropped_missing,
        "mean_score_gap": statistics.fmean(p["chosen_score"] - p["rejected_score"] for p in pairs) if pairs else None,
        "mean_chosen_chars": statistics.fmean(len(p["chosen"]) for p in pairs) if pairs else None,
        "mean_rejected_chars": statistics.fmean(len(p["rejected"]) for p in pairs) if pairs else None,
    }
    return pairs, stats


def with_judge_pairs(cfg, paths, actor_pairs: list[dict]) -> tuple[list[dict], dict]:
    """Meta-Rewarding's judge pairs from the meta-judge's battles: score-balanced, capped to their share."""
    from srlm.rewarding.judgments import battles, judgment_rows
    from srlm.rewarding.meta_judge import balance_scores, cap_share, judge_pairs

    mc = cfg.meta
    template = load_template(cfg.judge.template)
    candidates = {c["candidate_id"]: c for c in read_jsonl(paths.candidates)}
    found = judge_pairs(
        judgment_rows(cfg, paths),
        battles(cfg, paths),
        candidates,
        judge_prompt=lambda c: fill(template, prompt=c["prompt"], response=c["text"]),
        margin=mc.length_margin,
    )
    stats: dict = {"judge_pairs_found": len(found)}
    if mc.balance_scores:
        found, balance = balance_scores(found, stage_seed(cfg, paths, "judge-pairs-balance"))
        stats.update(balance)
    kept, cap = cap_share(found, len(actor_pairs), mc.max_judge_share, stage_seed(cfg, paths, "judge-pairs-cap"))
    stats.update(cap)
    stats["judge_pairs"] = len(kept)
    stats["mean_judge_chosen_chars"] = statistics.fmean(len(p["chosen"]) for p in kept) if kept else None
    stats["mean_judge_rejected_chars"] = statistics.fmean(len(p["rejected"]) for p in kept) if kept else None
    return actor_pairs + kept, stats


def run(cfg, paths) -> dict:
    candidates = read_jsonl(paths.candidates)
    judgments = [{**r, "id": r["candidate_id"]} for r in read_jsonl(paths.judgments)]
    mode = enum_value(cfg.judge.mode)
    pc = cfg.pairs
    self_scores = mean_scores(judgments, mode)
    verified = verify_candidates(read_jsonl(paths.prompts), candidates)
    source = enum_value(cfg.judge.source)
    scores = source_scores(source, self_scores, verified, candidates, stage_seed(cfg, paths, "random-pairs"))
    pairs, stats = build_pairs(candidates, scores, pc.length_control, pc.length_margin, pc.min_gap)
    stats["source"] = source
    if verified:
        write_jsonl(paths.verified, list(verified.values()))
        audit = reward_audit.audit(candidates, self_scores, verified, pairs, stage_seed(cfg, paths, "audit"))
        write_json(paths.reward_audit, audit)
        stats["reward_audit"] = {k: v for k, v in audit.items() if not k.endswith("_interval")}
    if not pairs:
        write_json(paths.pairs_stats, stats)
        raise SrlmError(
            f"iteration {paths.t}: 0 preference pairs from {stats['prompts']} prompts "
            f"({stats['dropped_ties']} all tied, {stats['dropped_missing']} without two scored candidates; "
            f"see {paths.judgments}). Try more candidates (generation.num_candidates), more judge samples "
            "(judge.num_samples), judge.mode=expected_score, or more prompts."
            + (
                f" (judge.source={source}: the verifier scored {len(verified)} candidate(s))"
                if source == "verifier"
                else ""
            )
        )
    if cfg.meta.enabled:
        pairs, judge_stats = with_judge_pairs(cfg, paths, pairs)
        stats.update(judge_stats)
    write_json(paths.pairs_stats, stats)
    write_jsonl(paths.pairs, pairs)
    return stats


if __name__ == "__main__":
    raise SystemExit(main("pairs"))
