"""Supervised fine-tuning with TRL's SFTTrainer: the trainer, over-length rows, one training run."""

from __future__ import annotations

from pathlib import Path

from datasets import Dataset

from srlm.core.errors import SrlmError
from srlm.core.paths import STEPS_FILE
from srlm.models.chat_format import chatml_source, keep_previous_eos, needs_chat_template
from srlm.models.loading import load_model, load_tokenizer
from srlm.training.trainers import (
    CrashInjection,
    ShareCheckpoints,
    StepLog,
    common_args,
    last_checkpoint,
    peft_config,
    refuse_sharded_lora,
    save_final_model,
    train_metrics,
    training_dtype,
)


def sft_dataset(rows: list[dict]) -> Dataset:
    return Dataset.from_list([{"prompt": r["messages"][:-1], "completion": r["messages"][-1:]} for r in rows])


def sft_trainer(cfg, base: str, rows: list[dict], out_dir: Path, seed: int):
    """An SFTTrainer for `rows` on the model `base`, writing checkpoints under `out_dir`."""
    from trl import SFTConfig, SFTTrainer

    tokenizer = load_tokenizer(base, padding_side="right", template_fallback=False)
    template_source = None
    if needs_chat_template(tokenizer):
        template_source = chatml_source(tokenizer, out_dir / "chatml_tokenizer")
    args = SFTConfig(
        **{
            **common_args(cfg.sft, cfg, out_dir / "checkpoints", seed),
            "max_length": None,  # nothing cut: `train` leaves out the examples over sft.max_length instead
        },
        warmup_steps=cfg.sft.warmup_ratio,
        completion_only_loss=True,
        chat_template_path=template_source,
    )
    model = load_model(base, training_dtype(cfg), for_training=True, dropout=cfg.model.dropout)
    base_eos = [tokenizer.eos_token_id]
    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=sft_dataset(rows),
        processing_class=tokenizer,
        peft_config=peft_config(cfg),
        callbacks=[ShareCheckpoints(), CrashInjection(), StepLog(out_dir / STEPS_FILE)],
    )
    if template_source:
        keep_previous_eos(model, base_eos)
    return trainer


def drop_over_length(trainer, rows: list[dict], max_length: int, name: str) -> dict[str, int]:
    """Take out of the trainer's data (tokenized by TRL, uncut) the examples over `max_length` tokens, counted by
    kind: cut, their reply would teach an ending it lacks (an EFT verdict without its `Score:` line)."""
    lengths = [len(ids) for ids in trainer.train_dataset["input_ids"]]
    if len(lengths) != len(rows):
        raise SrlmError(f"{name}: the trainer holds {len(lengths)} examples for {len(rows)} rows")
    over = [i for i, n in enumerate(lengths) if n > max_length]
    counts = {"ift_over_max_length_dropped": 0, "eft_over_max_length_dropped": 0}
    for i in over:
        counts[f"{'eft' if 'score' in rows[i] else 'ift'}_over_max_length_dropped"] += 1
    if over:
        kinds = f"{counts['ift_over_max_length_dropped']} IFT, {counts['eft_over_max_length_dropped']} EFT"
        print(f"[srlm] {name}: {len(over)} example(s) over sft.max_length={max_length} tokens left out ({kinds})")
    if len(over) == len(rows):
        raise SrlmError(f"{name}: every example is longer than sft.max_length={max_length} tokens; raise it")
    trainer.train_dataset = trainer.train_dataset.select(sorted(set(range(len(rows))) - set(over)))
    return counts


def train(cfg, base: str, rows: list[dict], out_dir: Path, seed: int, name: str) -> dict:
    """SFT of `base` on `rows` within `sft.max_length`; the model goes to `out_dir/model`."""
    trainer = sft_trainer(cfg, base, rows, out_dir, seed)
    dropped = drop_over_length(trainer, rows, cfg.sft.max_length, f"iteration 0: {name}")
    refuse_sharded_lora(trainer)
    resume = last_checkpoint(out_dir / "checkpoints")
    trainer.train(resume_from_checkpoint=resume)
    save_final_model(trainer, base, out_dir / "model")
    examples = len(rows) - sum(dropped.values())
    return {"examples": examples, **dropped, **train_metrics(trainer, resumed_from=resume)}
