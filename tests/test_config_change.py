"""A run resumed under a changed config (`resume.allow_config_change=true`) redoes its interrupted stage from scratch:
rows and checkpoints made under the old config are set aside, never mixed with rows made under the new one."""

from srlm.config.compose import compose
from srlm.core.io import read_jsonl, write_jsonl
from srlm.core.paths import RunPaths
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


def test_only_the_interrupted_stage_starts_over_the_finished_ones_keep_their_outputs(tmp_path):
    paths, manifest = prepare_run_dir(compose(["recipe=smoke", f"run_dir={tmp_path}"]))
    it1 = paths.iteration(1)
    write_jsonl(it1.candidates, [{"candidate_id": "p/c0"}])  # generate finished under the old config
    manifest.set_stage(1, "generate", "done")
    manifest.set_stage(1, "judge", "running")
    write_jsonl(it1.dir / "judgments.jsonl.partial", [{"candidate_id": "p/c0", "score": 3}])
    _, manifest = prepare_run_dir(
        compose(["recipe=smoke", f"run_dir={tmp_path}", "judge.batch_size=2", "resume.allow_config_change=true"])
    )
    assert manifest.data["config_changes"][-1]["restarted"] == ["iteration_1/judge"]
    assert read_jsonl(it1.candidates) == [{"candidate_id": "p/c0"}]
    assert not (it1.dir / "judgments.jsonl.partial").exists()
    assert manifest.data["iterations"]["1"]["generate"]["status"] == "done"


def test_a_failed_stage_and_the_sft_baseline_start_over_too(tmp_path):
    paths, manifest = prepare_run_dir(compose(["recipe=smoke", f"run_dir={tmp_path}"]))
    it0 = paths.iteration(0)
    manifest.set_stage(0, "sft_baseline", "failed")
    write_jsonl(it0.baseline_dir / "checkpoints" / "checkpoint-2" / "trainer_state.json", [{"global_step": 2}])
    _, manifest = prepare_run_dir(
        compose(["recipe=smoke", f"run_dir={tmp_path}", "sft.learning_rate=5e-4", "resume.allow_config_change=true"])
    )
    assert manifest.data["config_changes"][-1]["restarted"] == ["iteration_0/sft_baseline"]
    assert not list((it0.baseline_dir / "checkpoints").rglob("*.json"))
    assert list((paths.root / "set_aside").rglob("checkpoint-2/trainer_state.json"))


def test_a_stage_interrupted_then_resumed_under_a_changed_config_keeps_no_row_of_the_old_one(tmp_path):
    """Generate on the tiny model: half its rows written under `max_new_tokens=12`, then the run resumed with 3.
    Resumed under the same config the old rows would be kept; under the changed one every row is made with 3."""
    import shutil

    from srlm.models.tiny import tiny_checkpoint
    from srlm.stages import generate

    def generated(run_dir, *overrides):
        cfg = compose(["recipe=smoke", f"run_dir={run_dir}", "generation.backend=hf", *overrides])
        _, manifest = prepare_run_dir(cfg)
        it1 = RunPaths(run_dir).iteration(1)
        if not it1.prompts.exists():
            shutil.copytree(tiny_checkpoint(**cfg.model.tiny), it1.previous.model)
            write_jsonl(it1.prompts, [{"prompt_id": f"p{i}", "prompt": f"Name a colour, number {i}."} for i in (0, 1)])
        manifest.set_stage(1, "generate", "running")
        generate.run(cfg, it1)
        return read_jsonl(it1.candidates), it1

    for run_dir, resumed in ((tmp_path / "same", []), (tmp_path / "changed", ["generation.max_new_tokens=3"])):
        old, it1 = generated(run_dir, "generation.max_new_tokens=12", "generation.temperature=1.0")
        first_prompt = [r for r in old if r["prompt_id"] == "p0"]
        it1.candidates.unlink()
        write_jsonl(it1.dir / "candidates.jsonl.partial", first_prompt)  # killed after the first prompt's rows
        overrides = ["generation.max_new_tokens=12", "generation.temperature=1.0", *resumed]
        rows, _ = generated(run_dir, *overrides, "resume.allow_config_change=true")
        assert max(r["completion_tokens"] for r in first_prompt) > 3  # rows the new config could not make
        if not resumed:
            assert [r for r in rows if r["prompt_id"] == "p0"] == first_prompt  # resumed: the rows so far are kept
        else:
            assert all(r["completion_tokens"] <= 3 for r in rows), rows  # started over: none of the old rows
            assert len(rows) == len(old)
