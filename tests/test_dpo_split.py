"""The DPO held-out split keeps the judge-pair share the pairs stage capped."""

from datasets import Dataset

from srlm.rewarding.meta_judge import cap_share
from srlm.stages.dpo import split_held_out

CAP = 0.15


def pairs(n_actor: int, n_judge: int) -> Dataset:
    judge, stats = cap_share([{"kind": "judge"}] * n_judge, n_actor, CAP, seed=0)
    assert stats["judge_pairs_capped"] == 0, "the pairs stage would have kept them all"
    rows = [{"kind": "actor", "prompt": f"a{i}"} for i in range(n_actor)]
    return Dataset.from_list(rows + [{"kind": "judge", "prompt": f"j{i}"} for i in range(len(judge))])


def test_training_pairs_keep_the_capped_judge_share_whatever_the_seed():
    data = pairs(17, 3)  # 3 / 20 = the cap exactly
    for seed in range(10):
        train, held_out = split_held_out(data, 0.25, seed, CAP)
        assert held_out is not None and len(train) + len(held_out) == len(data)
        assert sorted([*train["prompt"], *held_out["prompt"]]) == sorted(data["prompt"])
        assert train["kind"].count("judge") / len(train) <= CAP, (seed, train["kind"])
        assert held_out["kind"].count("judge") >= 1


def test_without_judge_pairs_the_held_out_share_is_the_fraction():
    train, held_out = split_held_out(pairs(20, 0), 0.25, seed=3)
    assert len(held_out) == 5 and len(train) == 15
    assert split_held_out(pairs(4, 0), 0.25, seed=3)[1] is None  # one pair is no held-out set


def test_each_kind_is_held_out_by_the_fraction_judge_pairs_rounded_up():
    data = pairs(12, 2)
    train, held_out = split_held_out(data, 0.25, seed=0)  # no cap: 3 of 12 actor pairs, 1 of 2 judge pairs (0.5 up)
    assert (held_out["kind"].count("actor"), held_out["kind"].count("judge")) == (3, 1)
    assert (train["kind"].count("actor"), train["kind"].count("judge")) == (9, 1)


def test_the_held_out_pairs_depend_on_the_seed_and_never_reach_training():
    data = pairs(20, 0)
    held = set()
    for seed in range(8):
        train, held_out = split_held_out(data, 0.25, seed)
        assert not set(train["prompt"]) & set(held_out["prompt"])
        assert sorted([*train["prompt"], *held_out["prompt"]]) == sorted(data["prompt"])
        held.add(tuple(sorted(held_out["prompt"])))
    assert len(held) > 1


def test_no_fraction_holds_out_nothing():
    data = pairs(20, 0)
    train, held_out = split_held_out(data, 0.0, seed=0)
    assert held_out is None and train["prompt"] == data["prompt"]


def test_the_dpo_stage_trains_on_the_rest_and_measures_the_held_out_pairs(tmp_path, monkeypatch):
    """The stage as a run calls it on a tiny model: the held-out pairs go to TRL's evaluation only."""
    import json
    import shutil

    from trl import DPOTrainer

    from srlm.config.compose import compose
    from srlm.core.paths import RunPaths
    from srlm.models.tiny import tiny_checkpoint
    from srlm.stages import dpo

    seen = {}

    class Recording(DPOTrainer):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            seen["trainer"] = self

    monkeypatch.setattr("trl.DPOTrainer", Recording)
    cfg = compose(["recipe=smoke", f"run_dir={tmp_path}", "dpo.eval_fraction=0.25", "dpo.max_steps=1"])
    paths = RunPaths(tmp_path).iteration(1)
    shutil.copytree(tiny_checkpoint(**cfg.model.tiny), paths.previous.model)
    paths.dir.mkdir(parents=True)
    rows = [
        {"prompt": f"Question {i}: name a colour.", "chosen": "Blue.", "rejected": "Seven.", "kind": "actor"}
        for i in range(8)
    ]
    paths.pairs.write_text("".join(json.dumps(r) + "\n" for r in rows))
    metrics = dpo.run(cfg, paths)
    trainer = seen["trainer"]

    def prompts(dataset):
        return {json.dumps(p) for p in dataset["prompt"]}

    train, held_out = prompts(trainer.train_dataset), prompts(trainer.eval_dataset)
    assert len(held_out) == 2 and len(train) == 6 and not train & held_out
    assert (metrics["pairs"], metrics["heldout_pairs"]) == (6, 2)
    lo, hi = metrics["heldout_rewards_accuracies_interval"]
    assert lo <= metrics["heldout_rewards_accuracies"] <= hi
    assert metrics["heldout_loss"] > 0
