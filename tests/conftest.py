"""Shared fixtures: no network, wandb offline, small oasst fixtures built in code."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def pytest_collection_modifyitems(config, items):
    """Files with the most `slow` tests first (a file's tests keep their order), so the test workers of
    `./launch.sh test` (`--dist loadfile --no-loadscope-reorder`) start the long files early and end on short ones."""
    slow_tests = Counter(item.path for item in items if item.get_closest_marker("slow"))
    items.sort(key=lambda item: -slow_tests[item.path])


def message(mid, parent, role, text, rank=None, lang="en", deleted=False, tree=None):
    return {
        "message_id": mid,
        "parent_id": parent,
        "message_tree_id": tree or (parent or mid),
        "role": role,
        "text": text,
        "lang": lang,
        "rank": rank,
        "deleted": deleted,
        "review_result": True,
    }


def oasst_rows() -> list[dict]:
    """Three ranked trees, one non-English, one deleted reply, one prompt-only tree."""
    return [
        message("p1", None, "prompter", "How do I boil an egg?"),
        message("a1b", "p1", "assistant", "Eggs are round.", rank=1, tree="p1"),
        message("a1a", "p1", "assistant", "Boil water, add the egg, wait 9 minutes.", rank=0, tree="p1"),
        message("a1c", "p1", "assistant", "Deleted reply.", rank=2, deleted=True, tree="p1"),
        message("p2", None, "prompter", "Name a prime number."),
        message("a2a", "p2", "assistant", "7 is prime.", rank=0, tree="p2"),
        message("a2b", "p2", "assistant", "9 is prime.", rank=1, tree="p2"),
        message("a2c", "p2", "assistant", "Numbers are fun.", rank=2, tree="p2"),
        message("p3", None, "prompter", "Wie spät ist es?", lang="de"),
        message("a3a", "p3", "assistant", "Ich weiß es nicht.", rank=0, lang="de", tree="p3"),
        message("a3b", "p3", "assistant", "Zeit.", rank=1, lang="de", tree="p3"),
        message("p4", None, "prompter", "Suggest a name for a cat."),
    ]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture
def oasst_file(tmp_path) -> Path:
    return write_jsonl(tmp_path / "oasst.jsonl", oasst_rows())


def smoke_overrides(run_dir: Path, *extra: str) -> list[str]:
    return ["recipe=smoke", f"run_dir={run_dir}", *extra]


def srlm_run(args: list[str], run_dir: Path, kill_at: str | None = None) -> subprocess.CompletedProcess:
    """`python -m srlm run ARGS run_dir=RUN_DIR` in a fresh process, SIGKILLed at `kill_at` (see srlm.core.faults)."""
    # WANDB_SERVICE: a wandb service this test process started; a driver sharing it would find a killed driver's
    # run still open there ("run ID is in use"), as no user's fresh command does
    env = {k: v for k, v in os.environ.items() if k not in ("SRLM_KILL_AT", "WANDB_SERVICE")}
    if kill_at:
        env["SRLM_KILL_AT"] = kill_at
    return subprocess.run(
        [sys.executable, "-m", "srlm", "run", *args, f"run_dir={run_dir}"], env=env, capture_output=True, text=True
    )


META_SMOKE = ["recipe=smoke", "meta.enabled=true"]


@pytest.fixture(scope="session")
def finished_meta_run(tmp_path_factory) -> Path:
    """A finished smoke run with meta-rewarding: its rows are checked, and bad inputs must leave it untouched.

    Its trainer checkpoints are kept (`disk.keep_checkpoints`, outside the config hash), so their files can be checked.
    """
    run_dir = tmp_path_factory.mktemp("finished_meta")
    done = srlm_run([*META_SMOKE, "disk.keep_checkpoints=true"], run_dir)
    assert done.returncode == 0, done.stderr[-2000:]
    return run_dir
