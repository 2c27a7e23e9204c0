"""The learning rate reaches `min_lr`: SFT and DPO train a few steps on a tiny random model as the stages build their
trainers, and the schedule each trainer stepped ends at the stage's `min_lr` (the paper: 5.5e-6 to 1.1e-6 for SFT,
1e-6 to 1e-7 for DPO), never below it, from the peak down."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from srlm.config.compose import compose
from srlm.core.paths import RunPaths
from srlm.models.tiny import tiny_checkpoint

STEPS = 4
EXAMPLES = [
    ("Name a prime number.", "7 is prime, and so are 11 and 13.", "9 is prime."),
    ("How do I boil an egg?", "Boil water, put the egg in, wait nine minutes.", "Eggs are round."),
    ("Suggest a name for a cat.", "Whiskers, or Miso if it is small.", "Dog."),
    ("What is the capital of France?", "Paris.", "France has many cities, the largest being Lyon."),
]


def recording(monkeypatch, name: str, seen: dict):
    """Make trl's `name` trainer record itself in `seen` once built (the stages import it when they run)."""
    import trl

    base = getattr(trl, name)

    class Recording(base):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            seen["trainer"] = self

    monkeypatch.setattr(trl, name, Recording)


def train_sft(tmp_path, monkeypatch, *overrides: str):
    from srlm.stages import current_model
    from srlm.training.sft import train

    seen = {}
    recording(monkeypatch, "SFTTrainer", seen)
    cfg = compose(
        ["recipe=smoke", f"run_dir={tmp_path}", f"sft.max_steps={STEPS}", "sft.per_device_train_batch_size=1"]
        + ["sft.learning_rate=1e-3", "sft.min_lr=2e-4", "sft.save_steps=100", *overrides]
    )
    paths = RunPaths(tmp_path).iteration(0)
    paths.dir.mkdir(parents=True)
    rows = [
        {"messages": [{"role": "user", "content": p}, {"role": "assistant", "content": c}]} for p, c, _ in EXAMPLES
    ]
    train(cfg, current_model(cfg, paths), rows, paths.train_dir, cfg.seed, "sft")
    return cfg.sft, seen["trainer"]


def train_dpo(tmp_path, monkeypatch, *overrides: str):
    from srlm.stages import dpo

    seen = {}
    recording(monkeypatch, "DPOTrainer", seen)
    cfg = compose(
        ["recipe=smoke", f"run_dir={tmp_path}", f"dpo.max_steps={STEPS}", "dpo.per_device_train_batch_size=1"]
        + ["dpo.eval_fraction=0", "dpo.learning_rate=1e-3", "dpo.min_lr=1e-4", "dpo.save_steps=100", *overrides]
    )
    paths = RunPaths(tmp_path).iteration(1)
    shutil.copytree(tiny_checkpoint(**cfg.model.tiny), paths.previous.model)
    paths.dir.mkdir(parents=True)
    rows = [{"prompt": p, "chosen": c, "rejected": r, "kind": "actor"} for p, c, r in EXAMPLES]
    paths.pairs.write_text("".join(json.dumps(r) + "\n" for r in rows))
    dpo.run(cfg, paths)
    return cfg.dpo, seen["trainer"]


def logged_rates(trainer) -> list[float]:
    return [e["learning_rate"] for e in trainer.state.log_history if "learning_rate" in e]


@pytest.mark.parametrize(
    ("train", "overrides"),
    [
        (train_sft, []),
        (train_sft, ["sft.warmup_ratio=0.25"]),
        (train_dpo, []),
        (train_dpo, ["dpo.lr_scheduler_type=cosine_warmup_with_min_lr"]),
    ],
    ids=["sft", "sft-warmup", "dpo", "dpo-cosine-warmup-schedule"],
)
def test_the_schedule_reaches_min_lr_by_the_end_and_never_goes_below(tmp_path, monkeypatch, train, overrides):
    stage_cfg, trainer = train(tmp_path, monkeypatch, *overrides)
    assert trainer.state.global_step == STEPS
    rates = logged_rates(trainer)  # the rate each step trained with
    groups = trainer.optimizer.param_groups  # with and without weight decay: one schedule
    after = trainer.lr_scheduler.get_last_lr()  # the rate after the last step
    assert len(rates) == STEPS and len(set(after)) == 1 and {g["lr"] for g in groups} == set(after)
    peak = rates.index(max(rates))
    assert rates[peak] <= stage_cfg.learning_rate * (1 + 1e-9)
    assert rates[: peak + 1] == sorted(rates[: peak + 1])  # warming up (if at all), then from the peak on only down
    assert rates[peak:] == sorted(rates[peak:], reverse=True)
    decay = [*rates[peak:], after[0]]
    assert min(decay) == pytest.approx(stage_cfg.min_lr, rel=1e-9)  # the floor: by the last step or after it
    assert all(r >= stage_cfg.min_lr * (1 - 1e-9) for r in decay)


@pytest.mark.parametrize("train", [train_sft, train_dpo], ids=["sft", "dpo"])
def test_the_default_schedule_trains_its_first_step_at_the_peak_and_ends_at_min_lr(tmp_path, monkeypatch, train):
    stage_cfg, trainer = train(tmp_path, monkeypatch)
    assert stage_cfg.lr_scheduler_type == "cosine_with_min_lr"  # the default, and the paper recipe's
    assert logged_rates(trainer)[0] == pytest.approx(stage_cfg.learning_rate, rel=1e-9)
    assert trainer.lr_scheduler.get_last_lr()[0] == pytest.approx(stage_cfg.min_lr, rel=1e-9)


def test_the_schedule_reaches_min_lr_with_an_optimizer_that_keeps_no_default_lr(tmp_path, monkeypatch):
    """DeepSpeed's ZeRO optimizers have no `defaults["lr"]`: the stage's scheduler arguments must not need it."""
    from transformers import get_scheduler

    stage_cfg, trainer = train_dpo(tmp_path, monkeypatch)
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=stage_cfg.learning_rate)
    del optimizer.defaults["lr"]
    scheduler = get_scheduler(
        trainer.args.lr_scheduler_type,
        optimizer,
        num_warmup_steps=0,
        num_training_steps=STEPS,
        scheduler_specific_kwargs=trainer.args.lr_scheduler_kwargs,
    )
    for _ in range(STEPS):
        optimizer.step()
        scheduler.step()
    assert scheduler.get_last_lr() == pytest.approx([stage_cfg.min_lr], rel=1e-9)
