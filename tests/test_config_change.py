"""A run resumed under a changed config (`resume.allow_config_change=true`) redoes its interrupted stage from scratch:
rows and checkpoints made under the old config are set aside, never mixed with rows made under the new one."""

from srlm.config.compose import compose
from srlm.core.io import read_jsonl, write_jsonl
from srlm.pipeline.driver import prepare_run_dir


def interrupted_run(tmp_path, stage: str, working: str):
    """A run directory whose `stage` of iteration 1 stopped with `working` (a path under iteration_1) written."""
    paths, manifest = prepare_run_dir(compose(["recipe=smoke", f"run_dir={tmp_path}"]))
    manifest.set_stage(1, stage, "running")
    write_jsonl(paths.root / "iteration_1" / working, [{"candidate_id": "old-config-row"}])
    return paths


def test_partial_rows_of_the_interrupted_stage_are_set_aside(tmp_path, capsys):
    paths = interrupted_run(tmp_path, "generate", "candidates.jsonl.partial")
    changed = compose(
        ["recipe=smoke", f"run_dir={tmp_path}", "generation.temperature=0.3", "resume.allow_config_change=true"]
    )
    _, manifest = prepare_run_dir(changed)
    assert not (paths.iteration(1).dir / "candidates.jsonl.partial").exists()
    [aside] = (paths.root / "set_aside").rglob("candidates.jsonl.partial")
    assert read_jsonl(aside) == [{"candidate_id": "old-config-row"}]
    assert manifest.data["config_changes"][-1]["restarted"] == ["iteration_1/generate"]
    assert "iteration 1: generate was interrupted under the old config; it starts over" in capsys.readouterr().out


def test_trainer_checkpoints_of_the_interrupted_dpo_are_set_aside(tmp_path):
    paths = interrupted_run(tmp_path, "dpo", "dpo/checkpoints/checkpoint-1/trainer_state.json")
    prepare_run_dir(
        compose(["recipe=smoke", f"run_dir={tmp_path}", "dpo.beta=0.5", "resume.allow_config_change=true"])
    )
    assert not list(paths.iteration(1).checkpoints.rglob("*.json"))
    assert list((paths.root / "set_aside").rglob("checkpoint-1/trainer_state.json"))


def test_the_same_config_resumes_the_interrupted_stage_where_it_stopped(tmp_path):
    paths = interrupted_run(tmp_path, "generate", "candidates.jsonl.partial")
    prepare_run_dir(compose(["recipe=smoke", f"run_dir={tmp_path}"]))
    assert (paths.iteration(1).dir / "candidates.jsonl.partial").exists()
