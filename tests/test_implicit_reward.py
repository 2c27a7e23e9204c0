"""Eval log-probs score exactly the sequences TRL's DPO trains on: the implicit reward of a pair equals beta x the
DPO trainer's own chosen and rejected log-ratios on the same policy and reference."""

import pytest
from datasets import Dataset

from srlm.config.compose import compose
from srlm.evaluation.tasks import EvalRows, pair_logprobs
from srlm.inference.engines.hf import HfEngine
from srlm.models.loading import load_model, load_tokenizer
from srlm.models.tiny import tiny_checkpoint

BETA = 0.25
PAIR = {
    "id": "p0",
    "subset": "chat",
    "prompt": "Name a prime number.",
    "chosen": "7 is prime, since no smaller number but 1 divides it.",
    "rejected": "9.",
}


def trl_rewards(policy: str, reference: str, tmp_path) -> tuple[float, float]:
    """TRL DPOTrainer's rewards/chosen and rewards/rejected on the one pair (evaluation: no training step)."""
    from trl import DPOConfig, DPOTrainer

    pair = {
        "prompt": [{"role": "user", "content": PAIR["prompt"]}],
        "chosen": [{"role": "assistant", "content": PAIR["chosen"]}],
        "rejected": [{"role": "assistant", "content": PAIR["rejected"]}],
    }
    args = DPOConfig(
        output_dir=str(tmp_path / "trl"), beta=BETA, max_length=1024, use_cpu=True, report_to=[],
        per_device_eval_batch_size=1, bf16=False, disable_dropout=True,
    )  # fmt: skip
    trainer = DPOTrainer(
        model=load_model(policy, "float32", for_training=True),
        ref_model=load_model(reference, "float32", for_training=True),
        args=args,
        train_dataset=Dataset.from_list([pair]),
        eval_dataset=Dataset.from_list([pair]),
        processing_class=load_tokenizer(policy, padding_side="right"),
    )
    scores = trainer.evaluate()
    return scores["eval_rewards/chosen"], scores["eval_rewards/rejected"]


def test_implicit_reward_of_a_pair_is_beta_times_the_dpo_trainers_log_ratio(tmp_path):
    policy, reference = str(tiny_checkpoint()), str(tiny_checkpoint(num_hidden_layers=1))  # same tokenizer
    cfg = compose(["recipe=smoke", f"dpo.beta={BETA}", "dpo.max_length=1024"])
    logps = {}
    for name, path in (("policy", policy), ("reference", reference)):
        with HfEngine(path, "float32") as engine:
            logps[name] = pair_logprobs(cfg, EvalRows(tmp_path / name, 0), engine, [PAIR], name)
    ours = [
        BETA * (logps["policy"][f"p0|{side}"][0] - logps["reference"][f"p0|{side}"][0])
        for side in ("chosen", "rejected")
    ]
    assert abs(ours[0] - ours[1]) > 1e-3, "the two models must tell the answers apart for the test to show anything"
    assert ours == pytest.approx(list(trl_rewards(policy, reference, tmp_path)), rel=1e-4, abs=1e-5)
