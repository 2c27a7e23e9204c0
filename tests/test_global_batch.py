"""The global batch holds whatever the number of processes: the accumulation follows from it, or the run stops."""

import pytest

from srlm.config.compose import compose
from srlm.core.errors import SrlmError
from srlm.training.trainers import common_args

PAPER = "recipe=llama2-70b/paper"


@pytest.mark.parametrize("machines,processes,accumulation", [(1, 8, 2), (2, 8, 1), (1, 16, 1)])
def test_the_paper_batch_holds_on_8_or_16_gpus(tmp_path, monkeypatch, machines, processes, accumulation):
    launch = [f"launcher.num_processes={processes}", f"launcher.num_machines={machines}"]
    if machines > 1:
        launch += ["launcher.main_process_ip=10.0.0.1", "launcher.hostfile=/job/hostfile"]
    cfg = compose([PAPER, f"run_dir={tmp_path}", *launch])
    monkeypatch.setenv("WORLD_SIZE", str(machines * processes))  # as accelerate sets it in every training process
    for stage in (cfg.sft, cfg.dpo):
        args = common_args(stage, cfg, tmp_path / "out", seed=0)
        assert args["gradient_accumulation_steps"] == accumulation
        per_step = args["per_device_train_batch_size"] * machines * processes * args["gradient_accumulation_steps"]
        assert per_step == stage.global_batch_size


def test_a_launch_that_cannot_make_the_global_batch_is_refused_naming_the_key(tmp_path):
    with pytest.raises(SrlmError, match=r"`sft.global_batch_size` = 16; expected .* 1 x 3 = 3"):
        compose([PAPER, f"run_dir={tmp_path}", "launcher.num_processes=3"])


def test_a_stage_started_on_other_processes_than_configured_stops_before_training(tmp_path, monkeypatch):
    cfg = compose([PAPER, f"run_dir={tmp_path}"])
    monkeypatch.setenv("WORLD_SIZE", "5")
    with pytest.raises(SrlmError, match=r"`dpo.global_batch_size` = 16; expected .* 1 x 5 = 5"):
        common_args(cfg.dpo, cfg, tmp_path / "out", seed=0)


def test_without_a_global_batch_the_accumulation_is_as_written(tmp_path, monkeypatch):
    cfg = compose(["recipe=smoke", f"run_dir={tmp_path}", "dpo.gradient_accumulation_steps=3"])
    monkeypatch.setenv("WORLD_SIZE", "4")
    assert common_args(cfg.dpo, cfg, tmp_path / "out", seed=0)["gradient_accumulation_steps"] == 3
