"""Seed SFT (iteration 0): TRL SFTTrainer on IFT (+ EFT) data, loss on assistant tokens only -> M_1.

Examples are prompt/completion chat pairs, so TRL masks the prompt and trains on the reply. The
stage resumes from its last trainer checkpoint.

Run by hand: `python -m srlm.stages.sft RUN_DIR 0`.
"""

from __future__ import annotations

from datasets import Dataset

from srlm.errors import SrlmError
from srlm.io import read_jsonl
from srlm.models import load_model, load_tokenizer
from srlm.stages import current_model, main, stage_seed
from srlm.training import (
    CrashInjection,
    common_args,
    last_checkpoint,
    peft_config,
    refuse_sharded_lora,
    save_final_model,
    train_metrics,
)


def sft_dataset(paths) -> Dataset:
    rows = read_jsonl(paths.ift) + (read_jsonl(paths.eft_train) if paths.eft_train.exists() else [])
    if not rows:
        raise SrlmError(f"{paths.ift}: no SFT examples (check data.oasst)")
    return Dataset.from_list([{"prompt": r["messages"][:-1], "completion": r["messages"][-1:]} for r in rows])


def run(cfg, paths) -> dict:
    from trl import SFTConfig, SFTTrainer

    base = current_model(cfg, paths)
    dataset = sft_dataset(paths)
    args = SFTConfig(
        **common_args(cfg.sft, cfg, paths.checkpoints, stage_seed(cfg, paths, "sft")),
        warmup_steps=cfg.sft.warmup_ratio,
        completion_only_loss=True,
    )
    trainer = SFTTrainer(
        model=load_model(base, cfg.model.dtype, for_training=True, dropout=cfg.model.dropout),
        args=args,
        train_dataset=dataset,
        processing_class=load_tokenizer(base, padding_side="right"),
        peft_config=peft_config(cfg),
        callbacks=[CrashInjection()],
    )
    refuse_sharded_lora(trainer)
    resume = last_checkpoint(paths.checkpoints)
    trainer.train(resume_from_checkpoint=resume)
    save_final_model(trainer, base, paths.model)
    return {"examples": len(dataset), **train_metrics(trainer, resumed_from=resume)}


if __name__ == "__main__":
    raise SystemExit(main("sft"))
