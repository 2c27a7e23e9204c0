"""Kill a run (SIGKILL) in the middle of generate, judge and dpo, resume it, and compare with an unbroken run."""

import os
import re
import shutil
import signal
import subprocess
import sys
import time

import conftest
import pytest

from srlm.core.io import read_jsonl
from srlm.pipeline.status import status_table

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


def copy_of(run_dir, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy, symlinks=True)
    return copy


def every_file(run_dir):
    """Relative path -> (bytes, mtime) of every file, hidden ones included."""
    return {p.relative_to(run_dir): (p.read_bytes(), p.stat().st_mtime_ns) for p in run_dir.rglob("*") if p.is_file()}


@pytest.mark.slow
def test_a_deleted_finished_file_is_redone_and_what_came_after_stands(tmp_path, unbroken):
    run_dir = copy_of(unbroken, tmp_path)
    (run_dir / "iteration_1" / "pairs.jsonl").unlink()
    weights = run_dir / "iteration_1" / "dpo" / "model" / "model.safetensors"
    weights_mtime = weights.stat().st_mtime_ns
    shown = status_table(run_dir)
    assert re.search(r"1 +pairs +changed .*iteration_1/pairs\.jsonl missing: the next run redoes this stage", shown)
    resumed = srlm_run(run_dir)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "iteration 1: pairs is redone: iteration_1/pairs.jsonl missing" in resumed.stdout
    assert pairs_of(run_dir) == pairs_of(unbroken)
    assert weights.stat().st_mtime_ns == weights_mtime  # same pairs: the DPO model after them stands
    assert " changed " not in status_table(run_dir)


@pytest.mark.slow
def test_a_line_appended_to_a_finished_file_is_set_aside_and_the_stage_redone(tmp_path, unbroken):
    run_dir = copy_of(unbroken, tmp_path)
    judgments = run_dir / "iteration_2" / "judgments.jsonl"
    with open(judgments, "a") as f:
        f.write("garbage\n")
    resumed = srlm_run(run_dir)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "iteration 2: judge is redone: iteration_2/judgments.jsonl changed" in resumed.stdout
    assert read_jsonl(judgments) == read_jsonl(unbroken / "iteration_2" / "judgments.jsonl")
    (kept,) = (run_dir / "set_aside").glob("*-iteration_2-judge/iteration_2/judgments.jsonl")
    assert kept.read_text().endswith("garbage\n")
    assert pairs_of(run_dir) == pairs_of(unbroken)


@pytest.mark.slow
def test_a_finished_run_started_again_writes_nothing(tmp_path, unbroken):
    run_dir = copy_of(unbroken, tmp_path)
    before = every_file(run_dir)
    again = srlm_run(run_dir)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "every stage is done; nothing to do" in again.stdout
    assert every_file(run_dir) == before


def test_a_checkpoint_cut_short_is_not_resumed_from(tmp_path):
    from srlm.training.trainers import last_checkpoint

    for step, complete in ((2, True), (10, True), (12, False)):  # 12: killed, or the disk filled up, while saving
        (tmp_path / f"checkpoint-{step}").mkdir()
        (tmp_path / f"checkpoint-{step}" / "model.safetensors").write_bytes(b"\0")
        if complete:
            (tmp_path / f"checkpoint-{step}" / "trainer_state.json").write_text("{}")
    assert last_checkpoint(tmp_path) == str(tmp_path / "checkpoint-10")
    assert last_checkpoint(tmp_path / "none") is None


@pytest.fixture
def small_disk(tmp_path):
    """A 3 MiB tmpfs: a smoke run fills it, `grow()` frees space."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount)]).returncode:
        pytest.skip("mounting a small tmpfs needs root")

    def grow():
        subprocess.run(["mount", "-o", "remount,size=512m", str(mount)], check=True)

    yield mount, grow
    subprocess.run(["umount", "-l", str(mount)], check=True)


@pytest.mark.slow
def test_a_full_disk_is_one_line_and_the_stage_resumes_once_space_is_freed(small_disk):
    mount, grow = small_disk
    run_dir = mount / "run"
    full = conftest.srlm_run(["recipe=smoke"], run_dir)
    assert full.returncode == 2 and "Traceback" not in full.stderr, full.stderr[-3000:]
    (line,) = [line for line in full.stderr.splitlines() if line.startswith("error:")]
    stopped = re.fullmatch(
        rf"error: {re.escape(str(run_dir))}\S*: no space left on device \(iteration (\d): (\w+)\); free some space, "
        r"then run the same command again: finished stages are kept and this one resumes",
        line,
    )
    assert stopped, line
    grow()
    resumed = conftest.srlm_run(["recipe=smoke"], run_dir)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    started = re.findall(r"^\[srlm\] iteration (\d): (\w+)$", resumed.stdout, re.MULTILINE)
    assert started[0] == stopped.groups()  # the stage the disk stopped is the first one run, and resumed
    assert "interrupted" not in status_table(run_dir) and "failed" not in status_table(run_dir)
