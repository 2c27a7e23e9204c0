"""The judge's judgments as the meta-judge reads them, and the meta-judge's comparisons as the ratings read them."""

from __future__ import annotations

from srlm.config.run_config import enum_value
from srlm.core.io import read_jsonl
from srlm.rewarding.meta_judge import (
    combine_orders,
)


def judgment_rows(cfg, paths) -> list[dict]:
    """The judge stage's judgments in its primary mode, as the meta-judge reads them (`text` = the judgment)."""
    mode = enum_value(cfg.judge.mode)
    return [
        {"candidate_id": r["candidate_id"], "sample": r["sample"], "score": r["score"], "text": r["raw"]}
        for r in read_jsonl(paths.judgments)
        if r["mode"] == mode
    ]


def battles(cfg, paths) -> list[dict]:
    """The comparisons as the ratings read them: in probability mode each pair decided over both orders."""
    rows = read_jsonl(paths.meta_judgments)
    return combine_orders(rows) if enum_value(cfg.meta.mode) == "probability" else rows
