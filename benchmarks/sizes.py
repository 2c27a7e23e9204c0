"""How much work each benchmark section does: `DEFAULT` for a real measurement, `QUICK` for a smoke run.

On 2 idle CPU cores with the embedded model and 3 repeats: generate ~3.3 min, judge ~2.1 min, scaling
~2.4 min, dpo ~3.8 min (one repeat of each measured, times 3), iteration ~7 min (one run: the seed stages
~1.5 min, iteration 1 ~5 min): ~19 min in all. engines adds ~30 min per repeat at the recipe's sizes
(8 and 32 prompts, N=4, 96 tokens; judging with k=3 samples of 64 tokens), half of it HF's sampled
judging of the 128 candidates at 4x; on a loaded machine it takes twice as long.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Sizes:
    """Prompts, candidates, new tokens and training steps per section."""

    gen_prompts: int
    gen_candidates: int
    gen_max_new_tokens: int
    judge_prompts: int  # seed prompts whose ranked replies (2-4 each) are the judged candidates
    judge_samples: int
    judge_max_new_tokens: int | None  # None: the recipe's judge.max_new_tokens
    dpo_warmup_steps: int
    dpo_steps: int
    scaling_prompts: int  # prompts at 1x
    scaling_factors: tuple[int, ...]
    scaling_candidates: tuple[int, ...]
    scaling_max_new_tokens: int
    gpu_prompts: int
    gpu_candidates: int
    gpu_max_new_tokens: int
    iteration_overrides: tuple[str, ...] = ()  # on top of the recipe and the shortened seed SFT
    engine_prompts: int | None = None  # engines: prompts at 1x; None: the recipe's prompts.per_iteration
    engine_prompt_factors: tuple[int, ...] = (1, 4)
    roofline_runs: int = 5  # timed runs of each matmul
    chunking_max_new_tokens: int | None = 32  # chunking: new tokens per candidate; None: the recipe's


DEFAULT = Sizes(
    gen_prompts=6,  # 6 x 4 sequences in one batch; one at a time is ~13 tokens/s here, so ~1 min per repeat
    gen_candidates=4,
    gen_max_new_tokens=32,
    judge_prompts=2,
    judge_samples=3,
    judge_max_new_tokens=None,
    dpo_warmup_steps=1,
    dpo_steps=2,
    scaling_prompts=1,
    scaling_factors=(1, 2, 4),
    scaling_candidates=(2, 4, 8),
    scaling_max_new_tokens=16,
    gpu_prompts=64,
    gpu_candidates=4,
    gpu_max_new_tokens=256,
)
QUICK = Sizes(
    gen_prompts=2,
    gen_candidates=2,
    gen_max_new_tokens=8,
    judge_prompts=1,
    judge_samples=3,
    judge_max_new_tokens=8,
    dpo_warmup_steps=1,
    dpo_steps=2,
    scaling_prompts=1,
    scaling_factors=(1, 2, 4),
    scaling_candidates=(2, 4, 8),
    scaling_max_new_tokens=8,
    gpu_prompts=4,
    gpu_candidates=2,
    gpu_max_new_tokens=16,
    engine_prompts=1,
    roofline_runs=3,
    iteration_overrides=(
        "prompts.per_iteration=2",
        "generation.max_new_tokens=16",
        "judge.max_new_tokens=16",
        "dpo.max_steps=1",
        "eval.win_rate_prompts=2",
        "eval.max_new_tokens=16",
    ),
)
