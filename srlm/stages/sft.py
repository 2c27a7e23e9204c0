"""Seed SFT (iteration 0): TRL SFTTrainer on IFT (+ EFT) data, loss on assistant tokens only -> M_1.

Examples are prompt/completion chat pairs, so TRL masks the prompt and trains on the reply. A base
model whose tokenizer has no chat template gets ChatML with real turn tokens first (`srlm.chat_format`),
so every trained reply ends with the end-of-turn token that generation stops on. The stage resumes from
its last trainer checkpoint.

Run by hand: `python -m srlm.stages.sft RUN_DIR 0`.
"""

from __future__ import annotations

from pathlib import Path

from datasets import Dataset

from srlm.chat_format import chatml_source, keep_previous_eos, needs_chat_template
from srlm.errors import SrlmError
from srlm.io import read_jsonl
from srlm.models import load_model, load_tokenizer
from srlm.paths import STEPS_FILE
from srlm.stages import current_model, main, stage_seed
from srlm.training import (
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


def sft_rows(paths, with_eft: bool = True) -> list[dict]:
    rows = read_jsonl(paths.ift) + (read_jsonl(paths.eft_train) if with_eft and paths.eft_train.exists() else [])
    if not rows:
        raise SrlmError(f"{paths.ift}: no SFT examples (check data.oasst)")
    return rows


def sft_dataset(rows: list[dict]) -> Dataset:
    return Dataset.from_list([{"prompt": r["messages"][:-1], "completion": r["messages"][-1:]} for r in rows])


def sft_trainer(cfg, paths, rows: list[dict], out_dir: Path, seed_name: str = "sft"):
    """An SFTTrainer for `rows` on the base model, writing checkpoints under `out_dir`."""
    from trl import SFTConfig, SFTTrainer

    base = current_model(cfg, paths)
    tokenizer = load_tokenizer(base, padding_side="right", template_fallback=False)
    template_source = None
    if needs_chat_template(tokenizer):
        template_source = chatml_source(tokenizer, out_dir / "chatml_tokenizer")
    args = SFTConfig(
        **{
            **common_args(cfg.sft, cfg, out_dir / "checkpoints", stage_seed(cfg, paths, seed_name)),
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


def train(cfg, paths, rows: list[dict], out_dir: Path, seed_name: str = "sft") -> dict:
    """SFT on `rows` within `sft.max_length`; the model goes to `out_dir/model`."""
    trainer = sft_trainer(cfg, paths, rows, out_dir, seed_name)
    dropped = drop_over_length(trainer, rows, cfg.sft.max_length, f"iteration 0: {seed_name}")
    refuse_sharded_lora(trainer)
    resume = last_checkpoint(out_dir / "checkpoints")
    trainer.train(resume_from_checkpoint=resume)
    save_final_model(trainer, current_model(cfg, paths), out_dir / "model")
    examples = len(rows) - sum(dropped.values())
    return {"examples": examples, **dropped, **train_metrics(trainer, resumed_from=resume)}


def run(cfg, paths) -> dict:
    return train(cfg, paths, sft_rows(paths), paths.train_dir)


if __name__ == "__main__":
    raise SystemExit(main("sft"))
