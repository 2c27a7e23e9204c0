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
