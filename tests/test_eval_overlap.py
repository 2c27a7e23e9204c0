"""An eval set that shares prompts with the seed SFT data is refused before any work, not at eval after training."""

import pytest
from conftest import write_jsonl

from srlm.config.compose import compose
from srlm.core.errors import SrlmError
from srlm.pipeline.driver import run


def test_a_preference_set_sharing_a_seed_prompt_stops_the_run_before_it_starts(tmp_path, oasst_file):
    pairs = [
        {"prompt": "Name three rivers.", "chosen": "Nile, Amazon, Danube.", "rejected": "Rivers.", "subset": "chat"},
        {"prompt": "How do I boil an egg?", "chosen": "Boil it.", "rejected": "Fry it.", "subset": "chat"},
    ]  # the second is an OASST prompt the seed SFT trains on
    rewardbench = write_jsonl(tmp_path / "rb.jsonl", pairs)
    run_dir = tmp_path / "run"
    overrides = [f"data.oasst={oasst_file}", f"eval.rewardbench={rewardbench}", "prompts.per_iteration=1"]
    cfg = compose(["recipe=smoke", f"run_dir={run_dir}", "num_iterations=1", *overrides])  # a pool large enough
    with pytest.raises(
        SrlmError, match=r"`eval\.rewardbench`: 1 prompt\(s\) also used for training \(seed SFT data\).*boil an egg"
    ):
        run(cfg)
    assert not run_dir.exists()


def test_a_disjoint_preference_set_passes(tmp_path, oasst_file):
    from srlm.pipeline.eval_overlap import overlap_problems

    pairs = [{"prompt": "Name three rivers.", "chosen": "Nile.", "rejected": "Rivers.", "subset": "chat"}]
    rewardbench = write_jsonl(tmp_path / "rb.jsonl", pairs)
    cfg = compose(
        ["recipe=smoke", f"run_dir={tmp_path}", f"data.oasst={oasst_file}", f"eval.rewardbench={rewardbench}"]
    )
    assert overlap_problems(cfg) == []
