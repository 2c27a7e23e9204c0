"""Evaluation sets: RewardBench v1 pairs, RewardBench 2 best-of-n rows, and prompt sets in three schemas.

- RewardBench v1 (`filtered` split): `prompt`, `chosen`, `rejected` (strings), `subset`.
- RewardBench 2 (`test` split): `prompt`, `chosen` and `rejected` (lists of strings), `subset`.
- Prompt sets: AlpacaEval (`instruction`, optional reference `output`), MT-Bench (`turns`, the first
  turn is used; `question_id`), or srlm's own (`prompt`, `prompt_id`).
A file is JSONL, JSON (a list) or parquet; a name that is not a file is read from the dataset hub.
A malformed row is an error naming the file and row.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from srlm.core.errors import SrlmError
from srlm.core.io import read_jsonl

PAIR_FIELDS = ("prompt", "chosen", "rejected", "subset")
FILE_SUFFIXES = (".jsonl", ".json", ".parquet")
TIES_ID = re.compile(r"(ref|tied):\d+")  # RewardBench 2's Ties rows: a reference or a tied prompt, and its number


def read_rows(source: str, split: str, what: str) -> list[dict]:
    """Rows of a JSONL/JSON/parquet file, or of a hub dataset's `split`."""
    path = Path(source).expanduser()
    if path.suffix in FILE_SUFFIXES and not path.exists():
        raise SrlmError(f"{path}: {what} file not found")
    if path.suffix == ".jsonl":
        return read_jsonl(path)
    if path.suffix == ".json":
        try:
            rows = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise SrlmError(f"{path}: not a JSON list of rows ({e})") from None
        if not isinstance(rows, list):
            raise SrlmError(f"{path}: expected a JSON list of rows")
        return rows
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return pq.read_table(path).to_pylist()
    import datasets

    try:
        return list(datasets.load_dataset(source, split=split))
    except Exception as e:  # noqa: BLE001 - the hub raises many types; say which source failed
        raise SrlmError(f"{what} `{source}` (split {split}) cannot be loaded: {e}") from None


def is_rewardbench2(rows: list[dict]) -> bool:
    """RewardBench 2 rows hold lists of completions where v1 rows hold one string."""
    return bool(rows) and isinstance(rows[0].get("chosen"), list)


def load_preference_pairs(source: str) -> list[dict]:
    """RewardBench v1 `filtered`-schema pairs (`prompt`, `chosen`, `rejected`, `subset`) from a file or hub id."""
    return _checked(source, read_rows(source, "filtered", "preference-pair"), str)


def load_best_of_n(source: str) -> list[dict]:
    """RewardBench 2 rows (`prompt`, `chosen` and `rejected` lists, `subset`) from a file or hub id."""
    return _checked(source, read_rows(source, "test", "RewardBench 2"), list)


def _checked(source: str, rows: list[dict], completion_type: type) -> list[dict]:
    schema = "RewardBench 2" if completion_type is list else "RewardBench"
    seen: set[str] = set()
    for i, r in enumerate(rows, 1):
        missing = [f for f in PAIR_FIELDS if f not in r]
        if missing:
            raise SrlmError(f"{source}:{i}: missing field(s) {', '.join(missing)} ({schema} schema)")
        if not isinstance(r["prompt"], str) or not r["prompt"].strip():
            raise SrlmError(f"{source}:{i}: empty prompt ({schema} schema)")
        for side in ("chosen", "rejected"):
            if not isinstance(r[side], completion_type) or (completion_type is list and not r[side]):
                expected = "a non-empty list of strings" if completion_type is list else "a string"
                raise SrlmError(f"{source}:{i}: `{side}` must be {expected} ({schema} schema)")
        r["id"] = str(r.get("id", i))
        if completion_type is list and r["subset"] == "Ties" and not TIES_ID.fullmatch(r["id"]):
            raise SrlmError(f"{source}:{i}: Ties row id {r['id']!r}: expected `ref:N` or `tied:N` ({schema} schema)")
        if r["id"] in seen:
            raise SrlmError(f"{source}:{i}: duplicate id {r['id']!r}")
        seen.add(r["id"])
    if not rows:
        raise SrlmError(f"{source}: no rows")
    return rows


def load_prompt_set(source: str) -> list[dict]:
    """Prompts with ids (and reference answers where the file has them) from any of the three schemas."""
    rows = read_rows(source, "eval", "prompt set")
    out, seen = [], set()
    for i, r in enumerate(rows, 1):
        if "instruction" in r:  # AlpacaEval
            item = {"prompt_id": str(r.get("id", i)), "prompt": r["instruction"], "reference": r.get("output")}
        elif "turns" in r:  # MT-Bench: single-turn evaluation of the first turn
            if not r["turns"] or not isinstance(r["turns"][0], str):
                raise SrlmError(f"{source}:{i}: `turns` must be a non-empty list of strings (MT-Bench schema)")
            item = {"prompt_id": str(r.get("question_id", i)), "prompt": r["turns"][0], "reference": None}
        elif "prompt" in r:
            item = {"prompt_id": str(r.get("prompt_id", i)), "prompt": r["prompt"], "reference": r.get("reference")}
        else:
            raise SrlmError(
                f"{source}:{i}: no prompt field (expected `instruction` (AlpacaEval), `turns` (MT-Bench) or `prompt`)"
            )
        if not isinstance(item["prompt"], str) or not item["prompt"].strip():
            raise SrlmError(f"{source}:{i}: empty prompt")
        if item["prompt_id"] in seen:
            raise SrlmError(f"{source}:{i}: duplicate id {item['prompt_id']!r}")
        seen.add(item["prompt_id"])
        out.append(item)
    if not out:
        raise SrlmError(f"{source}: no prompts")
    return out
