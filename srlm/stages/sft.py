"""Seed SFT (iteration 0): TRL SFTTrainer on IFT (+ EFT) data, loss on assistant tokens only -> M_1.

Examples are prompt/completion chat pairs, so TRL masks the prompt and trains on the reply. A base
model whose tokenizer has no chat template gets ChatML with real turn tokens first (`srlm.models.chat_format`),
so every trained reply ends with the end-of-turn token that generation stops on. The stage resumes from
its last trainer checkpoint.

Run by hand: `python -m srlm.stages.sft RUN_DIR 0`.
"""

from __future__ import annotations

from srlm.core.errors import SrlmError
from srlm.core.io import read_jsonl
from srlm.stages import current_model, main, stage_seed
from srlm.training.sft import train


def sft_rows(paths, with_eft: bool = True) -> list[dict]:
    rows = read_jsonl(paths.ift) + (read_jsonl(paths.eft_train) if with_eft and paths.eft_train.exists() else [])
    if not rows:
        raise SrlmError(f"{paths.ift}: no SFT examples (check data.oasst)")
    return rows


def run(cfg, paths) -> dict:
    seed = stage_seed(cfg, paths, "sft")
    return train(cfg, current_model(cfg, paths), sft_rows(paths), paths.train_dir, seed, "sft")


if __name__ == "__main__":
    raise SystemExit(main("sft"))
