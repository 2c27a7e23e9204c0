"""Open Assistant (oasst1) message tables: load, validate, and build IFT data and ranked responses.

Sources: a hub id (`OpenAssistant/oasst1`, read through `datasets`), or a local `.jsonl` /
`.parquet` file in the same message-table schema.
"""

from __future__ import annotations

import json
import random
from collections import defaultdict
from pathlib import Path

from srlm.core.errors import SrlmError
from srlm.core.io import utf8_line

REQUIRED = ("message_id", "parent_id", "role", "text")
ROLES = ("prompter", "assistant")


def load_messages(source: str, split: str = "train") -> list[dict]:
    """Read and validate an oasst1 message table; a malformed row is an error naming file and line."""
    path = Path(source).expanduser()
    if path.suffix == ".jsonl":
        if not path.exists():
            raise SrlmError(f"{path}: no such file (expected an oasst1 message table in JSONL)")
        rows = list(_read_jsonl_rows(path))
    elif path.suffix == ".parquet":
        if not path.exists():
            raise SrlmError(f"{path}: no such file (expected an oasst1 message table in parquet)")
        import pyarrow.parquet as pq

        rows = [(i + 1, r) for i, r in enumerate(pq.read_table(path).to_pylist())]
    else:
        import datasets

        try:
            ds = datasets.load_dataset(source, split=split)
        except Exception as e:  # noqa: BLE001 - the hub raises many types; say which source failed
            raise SrlmError(f"oasst data `{source}` (split {split}) cannot be loaded: {e}") from None
        rows = [(i + 1, r) for i, r in enumerate(ds)]
    if not rows:
        raise SrlmError(f"{source}: no messages (expected an oasst1 message table)")
    messages, seen = [], set()
    for lineno, row in rows:
        message = _validate(source, lineno, row)
        if message["message_id"] in seen:
            raise SrlmError(f"{source}:{lineno}: duplicate message_id {message['message_id']!r}")
        seen.add(message["message_id"])
        messages.append(message)
    return messages


def _read_jsonl_rows(path: Path):
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            line = utf8_line(raw, path, lineno)
            if not line.strip():
                continue
            try:
                yield lineno, json.loads(line)
            except json.JSONDecodeError as e:
                raise SrlmError(f"{path}:{lineno}: not valid JSON ({e.msg})") from None


def _validate(source, lineno: int, row) -> dict:
    where = f"{source}:{lineno}"
    if not isinstance(row, dict):
        raise SrlmError(f"{where}: expected a JSON object (an oasst1 message)")
    missing = [k for k in REQUIRED if k not in row]
    if missing:
        raise SrlmError(f"{where}: missing field(s) {', '.join(missing)} (oasst1 message-table schema)")
    if row["role"] not in ROLES:
        raise SrlmError(f"{where}: field `role` is {row['role']!r}; expected one of {ROLES}")
    if not isinstance(row["text"], str):
        raise SrlmError(f"{where}: field `text` must be a string")
    if not row["text"].strip() and not row.get("deleted", False):
        what = "prompt" if row["role"] == "prompter" else "reply"
        raise SrlmError(f"{where}: empty {what} in field `text` (remove the message or mark it `deleted`)")
    rank = row.get("rank")
    if rank is not None and not (isinstance(rank, (int, float)) and rank == int(rank) and rank >= 0):
        raise SrlmError(f"{where}: field `rank` is {rank!r}; expected a non-negative integer or null")
    return row


def _usable(m: dict, lang: str) -> bool:
    return (
        not m.get("deleted", False)
        and m.get("review_result", True) is not False
        and (lang is None or m.get("lang", lang) == lang)
        and bool(m["text"].strip())
    )


def first_turn_prompts(messages: list[dict], lang: str = "en") -> list[dict]:
    """Root prompter messages, in table order."""
    return [m for m in messages if m["parent_id"] is None and m["role"] == "prompter" and _usable(m, lang)]


def _replies_by_parent(messages: list[dict], lang: str) -> dict[str, list[dict]]:
    children = defaultdict(list)
    for m in messages:
        if m["parent_id"] is not None and m["role"] == "assistant" and _usable(m, lang):
            children[m["parent_id"]].append(m)
    return children


def ranked_responses(messages: list[dict], lang: str = "en") -> list[dict]:
    """First-turn prompts with >= 2 ranked assistant replies, replies sorted best (rank 0) first."""
    children = _replies_by_parent(messages, lang)
    out = []
    for p in first_turn_prompts(messages, lang):
        ranked = sorted((r for r in children[p["message_id"]] if r.get("rank") is not None), key=lambda r: r["rank"])
        if len(ranked) >= 2:
            replies = [{"message_id": r["message_id"], "text": r["text"], "rank": int(r["rank"])} for r in ranked]
            out.append({"prompt_id": p["message_id"], "prompt": p["text"], "replies": replies})
    return out


def build_ift(messages: list[dict], size: int, seed: int, lang: str = "en") -> list[dict]:
    """IFT examples: first-turn prompt + its rank-0 assistant reply, as chat messages (seeded sample)."""
    children = _replies_by_parent(messages, lang)
    examples = []
    for p in first_turn_prompts(messages, lang):
        best = [r for r in children[p["message_id"]] if r.get("rank") == 0]
        if best:
            examples.append(
                {
                    "prompt_id": p["message_id"],
                    "messages": [
                        {"role": "user", "content": p["text"]},
                        {"role": "assistant", "content": best[0]["text"]},
                    ],
                }
            )
    random.Random(seed).shuffle(examples)
    return examples[:size]
