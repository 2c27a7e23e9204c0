import re
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from srlm.config.compose import compose
from srlm.config.run_config import changed_keys, enum_value
from srlm.core.errors import SrlmError
from srlm.pipeline.driver import dry_run, prepare_run_dir

RECIPES = sorted(p.relative_to(Path("recipes")).with_suffix("").as_posix() for p in Path("recipes").rglob("*.yaml"))


@pytest.mark.parametrize("recipe", RECIPES)
def test_every_recipe_composes_and_validates(recipe, tmp_path):
    cfg = compose([f"recipe={recipe}", f"run_dir={tmp_path}"])
    assert cfg.generation.num_candidates >= 2
    assert enum_value(cfg.judge.mode) in ("sampled", "expected_score")
    assert all(line.startswith("[iteration") for line in dry_run(cfg))


def test_default_is_the_embedded_cpu_recipe():
    cfg = compose([])
    assert cfg.model.name == "smollm2-135m-instruct"
    assert cfg.num_iterations == 2
    assert Path(cfg.data.oasst).exists()


def test_changed_config_on_resume_is_refused_with_the_keys(tmp_path):
    prepare_run_dir(compose(["recipe=smoke", f"run_dir={tmp_path}"]))
    with pytest.raises(SrlmError, match=r"dpo\.beta.*generation\.temperature|generation\.temperature.*dpo\.beta"):
        prepare_run_dir(compose(["recipe=smoke", f"run_dir={tmp_path}", "dpo.beta=0.5", "generation.temperature=1.0"]))
    _, manifest = prepare_run_dir(
        compose(["recipe=smoke", f"run_dir={tmp_path}", "dpo.beta=0.5", "resume.allow_config_change=true"])
    )
    assert manifest.data["config_changes"][-1]["keys"] == ["dpo.beta"]
    assert OmegaConf.load(tmp_path / "config.yaml").dpo.beta == 0.5


def test_a_copied_run_directory_resumes_and_an_unchanged_config_is_not_rewritten(tmp_path):
    import shutil

    prepare_run_dir(compose(["recipe=smoke", f"run_dir={tmp_path / 'a'}"]))
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    prepare_run_dir(compose(["recipe=smoke", f"run_dir={tmp_path / 'b'}"]))  # no "changed keys: run_dir"
    config = tmp_path / "b" / "config.yaml"
    before = config.stat().st_mtime_ns
    prepare_run_dir(compose(["recipe=smoke", f"run_dir={tmp_path / 'b'}"]))  # read-only storage would refuse a write
    assert config.stat().st_mtime_ns == before


def test_changed_keys_nested():
    assert changed_keys({"a": {"b": 1, "c": 2}, "d": 3}, {"a": {"b": 1, "c": 5}, "d": 3, "e": 1}) == ["a.c", "e"]


def test_paper_recipe_dry_run_prints_distributed_commands(tmp_path):
    cfg = compose(["recipe=llama2-70b/paper", f"run_dir={tmp_path}"])
    lines = dry_run(cfg)
    assert any("dpo" in line and "accelerate launch" in line for line in lines)


def test_an_unknown_recipe_lists_every_recipe_including_those_in_folders():
    with pytest.raises(SrlmError, match=rf"unknown recipe `nope`; recipes: {re.escape(', '.join(RECIPES))} "):
        compose(["recipe=nope"])
    assert any("/" in r for r in RECIPES)


def test_recipes_and_keys_are_discoverable_from_the_command_line(capsys):
    from srlm.cli.main import main

    assert main(["recipes"]) == 0
    listed = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert listed == RECIPES
    assert main(["config", "--keys"]) == 0
    keys = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    composed = OmegaConf.to_container(compose(["recipe=smoke"]))
    leaves = [f"{group}.{k}" for group, v in composed.items() if isinstance(v, dict) for k in v if k != "tiny"]
    missing = [k for k in leaves if k not in keys and not k.startswith("model.lora")]
    assert not missing and "Peak learning rate" in keys["dpo.learning_rate"]
    assert main(["config", "recipe=smoke", "dpo.beta=0.3"]) == 0
    assert OmegaConf.create(capsys.readouterr().out).dpo.beta == 0.3


def test_a_prompt_schedule_with_a_count_below_one_is_refused():
    with pytest.raises(SrlmError, match=r"`prompts\.per_iteration_schedule`.*null or counts of at least 1"):
        compose(["recipe=smoke", "prompts.per_iteration_schedule=[4,0]"])
