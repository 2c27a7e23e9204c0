"""Kill a run (SIGKILL) in the middle of generate, judge and dpo, resume it, and compare with an unbroken run."""

import signal
import subprocess
import sys
import time

import conftest
import pytest

from srlm.io import read_jsonl

ARGS = [
    "recipe=smoke",
    "eval.enabled=false",
    "prompts.per_iteration=6",
    "generation.batch_size=1",
    "judge.batch_size=2",
    "dpo.max_steps=4",
    "judge.expected_after_justification=true",
    "judge.max_new_tokens=6",
]


def srlm_run(run_dir, kill_at=None):
    return conftest.srlm_run(ARGS, run_dir, kill_at)


@pytest.fixture(scope="module")
def unbroken(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("unbroken")
    out = srlm_run(run_dir)
    assert out.returncode == 0, out.stderr[-2000:]
    return run_dir


def pairs_of(run_dir):
    return [read_jsonl(run_dir / f"iteration_{t}" / "pairs.jsonl") for t in (1, 2)]


@pytest.mark.slow
@pytest.mark.parametrize(
    "kill_at,left_behind",
    [
        ("candidates.jsonl:3:torn", "iteration_1/candidates.jsonl.partial"),
        ("judgments.jsonl:5", "iteration_1/judgments.jsonl.partial"),
        ("dpo:2", "iteration_1/dpo/checkpoints/checkpoint-2"),
    ],
)
def test_killed_run_resumes_to_the_same_pairs(tmp_path, unbroken, kill_at, left_behind):
    killed = srlm_run(tmp_path, kill_at)
    assert killed.returncode == -signal.SIGKILL
    assert (tmp_path / left_behind).exists()
    assert not (tmp_path / "iteration_2").exists()
    resumed = srlm_run(tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert pairs_of(tmp_path) == pairs_of(unbroken)


@pytest.mark.slow
def test_kill_from_outside_at_any_moment_then_resume(tmp_path, unbroken):
    proc = subprocess.Popen(
        [sys.executable, "-m", "srlm", "run", *ARGS, f"run_dir={tmp_path}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 120
    while not (tmp_path / "iteration_1" / "candidates.jsonl.partial").exists() and time.time() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    resumed = srlm_run(tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert pairs_of(tmp_path) == pairs_of(unbroken)
