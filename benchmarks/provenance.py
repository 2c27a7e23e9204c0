"""Where a result came from: the command line that made it and the srlm commit that ran it."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def command_line(module: str, argv: list[str]) -> str:
    """`python -m MODULE ARGS...` as it can be pasted into a shell."""
    return shlex.join(["python", "-m", module, *argv])


def git_commit() -> dict:
    """The commit of the srlm checkout that runs the benchmark, and whether tracked files differ from it."""

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": git("rev-parse", "HEAD"), "dirty": None if status is None else bool(status)}
