"""Held-out sets stay apart from training data: EFT prompts count as training prompts in every overlap check."""

import pytest

from srlm.config.compose import ROOT, compose
from srlm.core.errors import SrlmError
from srlm.core.io import read_jsonl
from srlm.core.paths import RunPaths
from srlm.data.prompt_sets import normalize, training_prompts
from srlm.stages import eft
from srlm.stages.eval import check_no_overlap
from srlm.stages.prompts import excluded_prompts


@pytest.fixture
def seeded_run(tmp_path):
    preferences = ROOT / "data" / "seed" / "preferences.jsonl"  # the default recipe's; smoke runs without it
    cfg = compose(
        ["recipe=smoke", f"run_dir={tmp_path}", "eft.verdict_source=written", f"eval.rewardbench={preferences}"]
    )
    paths = RunPaths(tmp_path).iteration(0)
    paths.dir.mkdir(parents=True)
    eft.run(cfg, paths)
    return cfg, paths


def test_eft_prompts_are_training_prompts(seeded_run):
    _, paths = seeded_run
    judged = {normalize(r["prompt"]) for r in read_jsonl(paths.eft_train)}
    ift = {normalize(r["messages"][0]["content"]) for r in read_jsonl(paths.ift)}
    assert judged - ift, "the EFT prompts must add prompts the IFT data does not have"
    training = training_prompts(paths.run, upto=0)
    assert judged <= training
    with pytest.raises(SrlmError, match="also used for training"):
        check_no_overlap("eval prompts", [read_jsonl(paths.eft_train)[0]["prompt"]], training)


def test_new_prompts_avoid_every_eval_set(seeded_run):
    cfg, paths = seeded_run
    excluded = excluded_prompts(cfg, paths.run.iteration(1))
    for source in (cfg.data.eval_prompts, cfg.eval.rewardbench):
        assert {normalize(r["prompt"]) for r in read_jsonl(source)} <= excluded, source
