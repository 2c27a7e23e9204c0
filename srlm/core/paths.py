"""One place that names every path of a run (DESIGN.md §2)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

SEED_STAGES = ("eft", "sft", "eval")
BASELINE_SEED_STAGES = ("sft_baseline", *SEED_STAGES)  # EFT verdicts written by an IFT-only SFT model (paper §3)
LOOP_STAGES = ("prompts", "generate", "judge", "pairs", "dpo", "eval")
META_LOOP_STAGES = ("prompts", "generate", "judge", "meta_judge", "pairs", "dpo", "eval")  # meta.enabled
STEPS_FILE = "steps.jsonl"  # a training stage's per-step trainer logs, in the stage's output folder


def stages_of(iteration: int, sft_baseline: bool = False, meta: bool = False) -> tuple[str, ...]:
    if iteration:
        return META_LOOP_STAGES if meta else LOOP_STAGES
    return BASELINE_SEED_STAGES if sft_baseline else SEED_STAGES


@dataclass(frozen=True)
class RunPaths:
    root: Path

    def __post_init__(self):
        object.__setattr__(self, "root", Path(self.root))

    @property
    def config(self) -> Path:
        return self.root / "config.yaml"

    @property
    def manifest(self) -> Path:
        return self.root / "manifest.json"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.jsonl"

    @property
    def report_dir(self) -> Path:
        return self.root / "report"

    def iteration(self, t: int) -> IterationPaths:
        return IterationPaths(self, t)


@dataclass(frozen=True)
class IterationPaths:
    run: RunPaths
    t: int

    @property
    def dir(self) -> Path:
        return self.run.root / f"iteration_{self.t}"

    # iteration 0
    @property
    def ift(self) -> Path:
        return self.dir / "ift.jsonl"

    @property
    def eft_train(self) -> Path:
        return self.dir / "eft_train.jsonl"

    @property
    def eft_eval(self) -> Path:
        return self.dir / "eft_eval.jsonl"

    @property
    def eft_judgments(self) -> Path:
        return self.dir / "eft_judgments.jsonl"

    @property
    def eft_stats(self) -> Path:
        return self.dir / "eft_stats.json"

    @property
    def baseline_dir(self) -> Path:
        """The IFT-only SFT baseline that writes EFT verdicts (`eft.verdict_source=sft_baseline`)."""
        return self.dir / "sft_baseline"

    @property
    def baseline_model(self) -> Path:
        return self.baseline_dir / "model"

    @property
    def baseline_steps(self) -> Path:
        """Per-step trainer logs of the `sft_baseline` stage."""
        return self.baseline_dir / STEPS_FILE

    # iterations >= 1
    @property
    def prompts(self) -> Path:
        return self.dir / "prompts.jsonl"

    @property
    def candidates(self) -> Path:
        return self.dir / "candidates.jsonl"

    @property
    def judgments(self) -> Path:
        return self.dir / "judgments.jsonl"

    @property
    def meta_judgments(self) -> Path:
        """The meta-judge's comparisons of two judgments of one candidate, one row per order."""
        return self.dir / "meta_judgments.jsonl"

    @property
    def meta_stats(self) -> Path:
        return self.dir / "meta_stats.json"

    @property
    def pairs(self) -> Path:
        return self.dir / "pairs.jsonl"

    @property
    def pairs_stats(self) -> Path:
        return self.dir / "pairs_stats.json"

    @property
    def verified(self) -> Path:
        """The verifier's verdict on every candidate of a verifiable prompt."""
        return self.dir / "verified.jsonl"

    @property
    def reward_audit(self) -> Path:
        """The self-judge against the verifier on this iteration's candidates (`srlm.evaluation.reward_audit`)."""
        return self.dir / "reward_audit.json"

    @property
    def eval_json(self) -> Path:
        return self.dir / "eval.json"

    @property
    def eval_rows(self) -> Path:
        return self.dir / "eval_rows.jsonl"

    @property
    def eval_responses(self) -> Path:
        """This iteration's model's answers to the eval prompts."""
        return self.dir / "eval_responses.jsonl"

    @property
    def eval_vs_previous(self) -> Path:
        """The evaluator's verdicts on this iteration's answers against the previous model's, in both orders."""
        return self.dir / "eval_vs_previous.jsonl"

    @property
    def train_dir(self) -> Path:
        """Trainer output of this iteration: `sft/` at iteration 0, `dpo/` after."""
        return self.dir / ("sft" if self.t == 0 else "dpo")

    @property
    def checkpoints(self) -> Path:
        return self.train_dir / "checkpoints"

    @property
    def train_steps(self) -> Path:
        """Per-step trainer logs of this iteration's `sft` or `dpo` stage."""
        return self.train_dir / STEPS_FILE

    @property
    def model(self) -> Path:
        """The model this iteration produces: M_1 at iteration 0, M_{t+1} at iteration t."""
        return self.train_dir / "model"

    @property
    def previous(self) -> IterationPaths:
        return IterationPaths(self.run, self.t - 1)
