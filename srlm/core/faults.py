"""Crash injection for resume tests: `SRLM_KILL_AT=<point>:<count>` SIGKILLs this process.

Points: a JSONL file name (`candidates.jsonl`, `judgments.jsonl`, ...) killed once it holds
`count` rows, optionally leaving a torn last line (`candidates.jsonl:3:torn`); or a training stage
(`sft`, `dpo`) killed right after its trainer saved checkpoint `count`. `SRLM_KILL_RANK=<r>` limits the
kill to rank r of a multi-process stage. Unset in normal runs: then nothing happens.
"""

from __future__ import annotations

import os
import signal


def _spec() -> tuple[str, int, bool] | None:
    raw = os.environ.get("SRLM_KILL_AT")
    if not raw or os.environ.get("SRLM_KILL_RANK", os.environ.get("RANK", "0")) != os.environ.get("RANK", "0"):
        return None
    point, count, *rest = raw.split(":")
    return point, int(count), "torn" in rest


def after_rows(path, total_rows: int, file) -> None:
    spec = _spec()
    if spec and spec[0] == os.path.basename(path) and total_rows >= spec[1]:
        if spec[2]:
            file.write('{"torn": ')
            file.flush()
        os.kill(os.getpid(), signal.SIGKILL)


def after_checkpoint(stage: str, step: int) -> None:
    spec = _spec()
    if spec and spec[0] == stage and step >= spec[1]:
        os.kill(os.getpid(), signal.SIGKILL)
