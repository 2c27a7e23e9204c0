"""Disk: trainer checkpoints bounded while a stage runs and removed once its model is recorded; set-aside outputs
capped; `srlm status` shows where the bytes are."""

import os
import time

import conftest
import pytest

from srlm.pipeline import outputs
from srlm.pipeline.disk import cap_set_aside
from srlm.pipeline.status import status_table

ARGS = ["recipe=smoke", "num_iterations=1", "eval.enabled=false", "dpo.max_steps=3"]


def checkpoint_dirs(run_dir):
    return sorted(p.relative_to(run_dir).as_posix() for p in run_dir.glob("iteration_*/*/checkpoints/checkpoint-*"))


@pytest.mark.slow
def test_checkpoints_are_bounded_while_training_and_removed_once_the_model_is_recorded(tmp_path):
    killed = conftest.srlm_run(ARGS, tmp_path, kill_at="dpo:2")
    assert killed.returncode != 0
    assert checkpoint_dirs(tmp_path) == ["iteration_1/dpo/checkpoints/checkpoint-2"]  # save_total_limit=1
    assert "iteration_1 checkpoints" in status_table(tmp_path).splitlines()[-1]
    resumed = conftest.srlm_run(ARGS, tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert checkpoint_dirs(tmp_path) == [] and not list(tmp_path.glob("iteration_*/*/checkpoints"))
    assert (tmp_path / "iteration_1" / "dpo" / "model" / "model.safetensors").exists()
    disk_line = status_table(tmp_path).splitlines()[-1]
    assert disk_line.startswith("disk: ") and "iteration_1 " in disk_line and "checkpoints" not in disk_line


@pytest.mark.slow
def test_checkpoints_stay_when_asked(tmp_path):
    kept = conftest.srlm_run([*ARGS, "disk.keep_checkpoints=true"], tmp_path)
    assert kept.returncode == 0, kept.stderr[-2000:]
    assert checkpoint_dirs(tmp_path) == [
        "iteration_0/sft/checkpoints/checkpoint-2",
        "iteration_1/dpo/checkpoints/checkpoint-3",
    ]


def test_only_the_newest_set_aside_folders_are_kept(tmp_path):
    made = []
    for label in ("c-first", "b-second", "a-third"):  # labels sort against the order they were made in
        (tmp_path / "iteration_1").mkdir(exist_ok=True)
        (tmp_path / "iteration_1" / "pairs.jsonl").write_text(label)
        made.append(outputs.set_aside(tmp_path, ["iteration_1/pairs.jsonl"], label))
        time.sleep(0.01)
    removed = cap_set_aside(tmp_path, 2)
    assert removed == made[:1]
    assert sorted(os.listdir(tmp_path / "set_aside")) == sorted(p.name for p in made[1:])
