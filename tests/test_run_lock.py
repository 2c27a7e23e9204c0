"""The run directory: one driver at a time, a stage whose driver died shown as interrupted, files others can read."""

import os
import signal
import socket
import stat
import subprocess
import sys
import time

import conftest
import pytest

from srlm.config.compose import compose
from srlm.core.errors import SrlmError
from srlm.core.io import file_mode, write_json
from srlm.models.tiny import tiny_checkpoint
from srlm.pipeline.driver import prepare_run_dir, run
from srlm.pipeline.run_lock import RunLock, is_running
from srlm.pipeline.status import status_table


def test_a_second_driver_on_the_same_run_dir_is_refused_before_touching_it(tmp_path):
    lock = RunLock(tmp_path).acquire()
    try:
        with pytest.raises(
            SrlmError,
            match=rf"{tmp_path}: another srlm run is using this run directory \(pid {os.getpid()} on "
            rf"{socket.gethostname()}\)",
        ):
            run(compose(["recipe=smoke", f"run_dir={tmp_path}"]))
        assert not (tmp_path / "config.yaml").exists()
    finally:
        lock.release()
    RunLock(tmp_path).acquire().release()  # free again once released


def test_a_running_stage_whose_driver_is_gone_shows_as_interrupted(tmp_path):
    _, manifest = prepare_run_dir(compose(["recipe=smoke", f"run_dir={tmp_path}"]))
    manifest.set_stage(0, "eft", "running")
    assert "interrupted" in status_table(tmp_path) and "running" not in status_table(tmp_path).split("\n", 3)[-1]
    lock = RunLock(tmp_path).acquire()
    try:
        assert " running " in status_table(tmp_path)
    finally:
        lock.release()


def test_run_dir_under_a_file_is_one_line(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(SrlmError, match="a file is in the way"):
        run(compose(["recipe=smoke", f"run_dir={tmp_path / 'file' / 'run'}"]))


def test_files_and_weights_get_the_mode_the_umask_allows(tmp_path, monkeypatch):
    monkeypatch.setenv("SRLM_CACHE", str(tmp_path / "cache"))
    old = os.umask(0o022)
    try:
        write_json(tmp_path / "x.json", {"a": 1})
        weights = tiny_checkpoint(hidden_size=32) / "model.safetensors"
    finally:
        os.umask(old)
    for path in (tmp_path / "x.json", weights):
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path


@pytest.mark.slow
def test_every_file_of_a_finished_run_trainer_checkpoints_included_gets_the_mode_the_umask_allows(finished_meta_run):
    mode = file_mode()  # the run's driver inherited this process's umask
    files = [p for p in finished_meta_run.rglob("*") if p.is_file()]
    assert any(p.name == "model.safetensors" and "checkpoints" in p.parts for p in files)
    assert {p.relative_to(finished_meta_run).as_posix(): oct(stat.S_IMODE(p.stat().st_mode)) for p in files
            if stat.S_IMODE(p.stat().st_mode) != mode} == {}  # fmt: skip


@pytest.mark.slow
def test_two_drivers_started_on_one_run_dir_leave_one_running(tmp_path):
    first = subprocess.Popen(
        [sys.executable, "-m", "srlm", "run", "recipe=smoke", f"run_dir={tmp_path}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.time() + 60
        while not is_running(tmp_path) and time.time() < deadline:
            time.sleep(0.01)
        first.send_signal(signal.SIGSTOP)  # held mid-run, lock and all, while the second starts
        second = conftest.srlm_run(["recipe=smoke"], tmp_path)
        assert second.returncode == 2
        (line,) = second.stderr.strip().splitlines()
        assert f"another srlm run is using this run directory (pid {first.pid} on {socket.gethostname()})" in line
        assert first.poll() is None  # the first goes on
        first.send_signal(signal.SIGCONT)
    finally:
        first.kill()
        first.wait()
