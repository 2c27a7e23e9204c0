"""IFT-only SFT baseline (iteration 0, first, when `eft.verdict_source=sft_baseline`): the EFT verdict writer.

The paper's section 3: a base model writes almost no verdict that parses, so an SFT of it on the IFT
data alone judges the ranked replies, and the verdicts whose scores agree with the human ranks become
the EFT training data. M_1 is then trained from the base model on IFT + EFT by the `sft` stage; this
model serves only the EFT stage (`iteration_0/sft_baseline/model`).

Run by hand: `python -m srlm.stages.sft_baseline RUN_DIR 0`.
"""

from __future__ import annotations

from srlm.data.seed import seed_data
from srlm.stages import current_model, main, stage_seed
from srlm.training.sft import train


def run(cfg, paths) -> dict:
    ift, _, _ = seed_data(cfg, paths)
    seed = stage_seed(cfg, paths, "sft_baseline")
    return train(cfg, current_model(cfg, paths), ift, paths.baseline_dir, seed, "sft_baseline")


if __name__ == "__main__":
    raise SystemExit(main("sft_baseline"))
