"""DPO's reference is exact: at the first step the policy is M_t, so TRL's DPO loss is ln 2.

The DPO stage runs as srlm runs it (TRL's DPOTrainer, srlm's trainer arguments and models) on a tiny model, for one
step; the loss TRL logs for that step was computed before the first update. A reference in another dtype than the
policy (a bf16 reference against float32 weights under bf16 autocast) or one computed with dropout moves it off
ln 2. bf16 runs on the CPU through autocast, as it does on GPUs.
"""

import json
import math
import shutil

import pytest
import torch

from srlm.config.compose import compose
from srlm.core.paths import RunPaths
from srlm.models.tiny import tiny_checkpoint
from srlm.stages import dpo

LORA = [
    "model=llama3-8b-lora",
    "model.name=tiny-random",
    "model.lora.r=4",
    "model.lora.target_modules=[q_proj,v_proj]",
]
CASES = {
    "full": [],
    "lora": [*LORA, "model.lora.dropout=0.3"],
    "precomputed": ["dpo.precompute_ref_log_probs=true"],
}
PAIRS = [
    ("Name a prime number.", "7 is prime, and so are 11 and 13.", "9 is prime."),
    ("How do I boil an egg?", "Boil water, put the egg in, wait nine minutes.", "Eggs are round."),
    ("Suggest a name for a cat.", "Whiskers, or Miso if it is small.", "Dog."),
    ("What is the capital of France?", "Paris.", "France has many cities, the largest being Lyon."),
]


def dpo_run(tmp_path, *overrides: str):
    """An iteration-1 run directory whose M_t is the tiny model, with four pairs; its DPO stage config."""
    cfg = compose(
        [
            "recipe=smoke",
            f"run_dir={tmp_path}",
            "dpo.max_steps=1",
            "dpo.per_device_train_batch_size=4",
            "dpo.eval_fraction=0",
            "dpo.learning_rate=1e-2",
            "dpo.beta=1.0",  # a reference in another dtype is off by 4e-3 here (4e-4 at beta 0.1)
            *overrides,
        ]
    )
    paths = RunPaths(tmp_path).iteration(1)
    shutil.copytree(tiny_checkpoint(**cfg.model.tiny), paths.previous.model)
    paths.dir.mkdir(parents=True)
    rows = [{"prompt": p, "chosen": c, "rejected": r, "kind": "actor"} for p, c, r in PAIRS]
    paths.pairs.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return cfg, paths


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
@pytest.mark.parametrize("case", CASES)
def test_dpo_loss_at_the_first_step_is_ln_2(tmp_path, case, dtype):
    cfg, paths = dpo_run(tmp_path, *CASES[case], f"model.dtype={dtype}", "model.dropout=null")
    metrics = dpo.run(cfg, paths)
    assert metrics["steps"] == 1
    assert metrics["first_loss"] == pytest.approx(math.log(2), abs=1e-3)


@pytest.mark.parametrize("case", ["lora", "precomputed"])
def test_a_precomputed_reference_is_deterministic_under_dropout(tmp_path, monkeypatch, case):
    """With the paper's dropout the policy trains with it, but the reference precomputed before training (the policy
    with its adapter off, or the full policy) computes without: the same log-probs as with no dropout at all."""
    seen = {}
    trainer_class = dpo_trainer_recording(monkeypatch, seen)
    for dropout in ("0.5", "null"):
        cfg, paths = dpo_run(tmp_path / dropout, *CASES[case], f"model.dropout={dropout}")
        dpo.run(cfg, paths)
        seen[dropout] = seen.pop("trainer").train_dataset
    assert trainer_class is not None
    for column in ("ref_chosen_logps", "ref_rejected_logps"):
        torch.testing.assert_close(torch.tensor(seen["0.5"][column]), torch.tensor(seen["null"][column]))


def dpo_trainer_recording(monkeypatch, seen: dict):
    """Make the DPO stage's trainer record itself in `seen["trainer"]` once built."""
    from trl import DPOTrainer

    class Recording(DPOTrainer):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            seen["trainer"] = self

    monkeypatch.setattr("trl.DPOTrainer", Recording)
    return Recording


def test_a_combined_loss_type_reaches_trl_and_adds_the_sft_term_to_ln_2(tmp_path, monkeypatch):
    """`dpo.loss_type=[sigmoid,sft]` (RPO-style) is the loss TRL trains with: at step 0 the sigmoid term is ln 2 and
    the SFT term adds the chosen answers' mean NLL, about ln(vocabulary) = ln(260) for a near-uniform random model."""
    seen = {}
    dpo_trainer_recording(monkeypatch, seen)
    cfg, paths = dpo_run(tmp_path, "dpo.loss_type=[sigmoid,sft]", "model.dropout=null")
    metrics = dpo.run(cfg, paths)
    assert list(seen["trainer"].args.loss_type) == ["sigmoid", "sft"]
    vocabulary = len(seen["trainer"].processing_class)
    assert metrics["first_loss"] > math.log(2) + math.log(vocabulary) / 2


def test_a_separate_reference_computes_without_dropout_while_the_policy_trains_with_it(tmp_path, monkeypatch):
    """Full fine-tuning with the paper's dropout: the policy trains in train mode, the reference model (M_t loaded a
    second time) stays in eval mode, so its log-probs are the same on every pass."""
    seen = {}
    dpo_trainer_recording(monkeypatch, seen)
    cfg, paths = dpo_run(tmp_path, "model.dropout=0.5")
    dpo.run(cfg, paths)
    trainer = seen["trainer"]
    assert trainer.ref_model is not None and trainer.ref_model is not trainer.model
    assert not any(m.training for m in trainer.ref_model.modules())
    ids = torch.tensor([trainer.processing_class("Name a prime number. 7", add_special_tokens=False).input_ids])
    with torch.no_grad():
        once, twice = (trainer.ref_model(input_ids=ids).logits for _ in range(2))
    torch.testing.assert_close(once, twice, rtol=0, atol=0)
    policy_dropout = {getattr(m, "attention_dropout", None) for m in trainer.model.modules()} - {None}
    assert policy_dropout == {0.5}  # the policy's attention layers train with the dropout asked for
