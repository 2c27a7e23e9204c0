"""The texts the benchmarks run on: held-out prompts, and the seed set's prompts, ranked replies and pairs.

Every function takes the run config's `data` group (where the files are).
"""

from __future__ import annotations

from pathlib import Path

from srlm.core.io import read_jsonl
from srlm.data.oasst import first_turn_prompts, load_messages, ranked_responses


def eval_prompts(data, n: int) -> list[dict]:
    """`n` held-out prompts (`prompt_id`, `prompt`), cycling through the file when it has fewer."""
    rows = read_jsonl(Path(data.eval_prompts))
    picked = [rows[i % len(rows)] for i in range(n)]
    return [{"prompt_id": f"{r['prompt_id']}#{i}", "prompt": r["prompt"]} for i, r in enumerate(picked)]


def seed_prompts(data, n: int) -> list[dict]:
    """Up to `n` distinct first-turn prompts of the seed set."""
    firsts = first_turn_prompts(load_messages(data.oasst, data.oasst_split), data.lang)
    return [{"prompt_id": m["message_id"], "prompt": m["text"]} for m in firsts[:n]]


def seed_ranked(data) -> list[dict]:
    """Seed-set prompts with their ranked human replies, best first."""
    return ranked_responses(load_messages(data.oasst, data.oasst_split), data.lang)


def seed_candidates(data, n_prompts: int) -> list[dict]:
    """The ranked replies of `n_prompts` seed prompts as candidates (`prompt_id`, `candidate_id`, `prompt`, `text`)."""
    return [
        {
            "prompt_id": r["prompt_id"],
            "candidate_id": f"{r['prompt_id']}/c{j}",
            "prompt": r["prompt"],
            "text": a["text"],
        }
        for r in seed_ranked(data)[:n_prompts]
        for j, a in enumerate(r["replies"])
    ]


def seed_pairs(data, n: int) -> list[dict]:
    """`n` preference pairs (best vs worst human-ranked reply), cycling through the seed set when it has fewer."""
    ranked = seed_ranked(data)
    picked = [ranked[i % len(ranked)] for i in range(n)]
    return [
        {
            "prompt_id": f"pair-{i}",
            "prompt": r["prompt"],
            "chosen": r["replies"][0]["text"],
            "rejected": r["replies"][-1]["text"],
        }
        for i, r in enumerate(picked)
    ]
