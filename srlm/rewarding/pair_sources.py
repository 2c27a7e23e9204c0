"""Where the scores that make DPO pairs come from (`judge.source`), so the judge's share of a result can be isolated:

- `self`: the self-judge's scores (the method);
- `verifier`: the verifier's, on the rubric's scale (5 x share of constraints passed): the oracle. Candidates of
  prompts without verifiable instructions get no score, so give no pair;
- `random`: a seeded uniform score per candidate, so chosen and rejected are drawn at random: the floor.
The self-judge runs in every case, so the reward audit compares it with the verifier whatever made the pairs.
"""

from __future__ import annotations

import random

from srlm.data.verifiable import is_verifiable, passed, verifier_score, verify


def verify_candidates(prompts: list[dict], candidates: list[dict]) -> dict[str, dict]:
    """The verifier's verdict on every candidate of a verifiable prompt: `{passed, total, score, ...}` by id."""
    rows = {p["prompt_id"]: p for p in prompts if is_verifiable(p)}
    verified = {}
    for c in candidates:
        row = rows.get(c["prompt_id"])
        if row is not None:
            verdict = verify(row, c["text"])
            verified[c["candidate_id"]] = {
                "candidate_id": c["candidate_id"],
                "passed": passed(verdict),
                "total": len(verdict["follow_instruction_list"]),
                "score": verifier_score(verdict),
                **verdict,
            }
    return verified


def source_scores(
    source: str, self_scores: dict, verified: dict, candidates: list[dict], seed: int
) -> dict[str, float | None]:
    """The score per candidate id that pairs are built from, for `judge.source`."""
    if source == "self":
        return self_scores
    if source == "verifier":
        return {c["candidate_id"]: verified[c["candidate_id"]]["score"] if c["candidate_id"] in verified else None
                for c in candidates}  # fmt: skip
    rng = random.Random(seed)
    return {c["candidate_id"]: rng.random() for c in candidates}
