"""`srlm status RUN_DIR`: a table of iterations x stages with status and each stage's key metric, then disk use."""

from __future__ import annotations

from pathlib import Path

from srlm.core.errors import SrlmError
from srlm.core.paths import RunPaths, stages_of
from srlm.pipeline.disk import usage_lines
from srlm.pipeline.driver import HEADLINE, stage_problems
from srlm.pipeline.manifest import Manifest
from srlm.pipeline.run_lock import is_running
from srlm.reporting.verifiable_summary import summary_lines

EXTRA = {
    "judge": ("mean_score", "top_score_share", "mode_pair_agreement"),
    "meta_judge": ("order_agreement", "parse_rate"),
    "pairs": ("judge_pairs", "source"),
    "dpo": ("loss",),
    "eval": ("win_rate_vs_seed", "prob_win_rate_vs_seed", "judge_accuracy"),
}


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.3g}"
    return "-" if v is None else str(v)


def status_table(run_dir: Path) -> str:
    paths = RunPaths(run_dir)
    if not paths.manifest.exists():
        raise SrlmError(f"{paths.manifest}: no such file; is {run_dir} a srlm run directory?")
    m = Manifest.load(paths.manifest)
    running = is_running(paths.root)
    lines = [f"run {paths.root}  (config {m.data.get('config_hash')}, wandb {m.data.get('wandb_run_id') or '-'})"]
    header = f"{'iter':<5} {'stage':<12} {'status':<11} {'wall_s':>8}  key metrics"
    lines += [header, "-" * len(header)]
    for t in m.iterations():
        for stage in stages_of(t, sft_baseline=True, meta=True):  # stages a run did not plan have no entry
            entry = m.stage(t, stage)
            if not entry:
                continue
            metrics = entry.get("metrics", {})
            keys = (HEADLINE.get(stage),) + EXTRA.get(stage, ())
            shown = "  ".join(f"{k}={_fmt(metrics.get(k))}" for k in keys if k and k in metrics)
            state = entry.get("status", "-")
            if entry.get("status") == "failed":
                shown = f"error: {entry.get('error', '')}"
            if state == "running" and not running:
                state, shown = "interrupted", "its driver is gone (killed?); run the same command to resume"
            changed = stage_problems(paths, m, t, stage) if state == "done" else []
            if changed:
                state, shown = "changed", f"{', '.join(changed)}: the next run redoes this stage"
            lines.append(f"{t:<5} {stage:<12} {state:<11} {_fmt(metrics.get('wall_s')):>8}  {shown}")
    verifiable = summary_lines(paths.root)
    return "\n".join(lines + ([""] + verifiable if verifiable else []) + usage_lines(paths.root))
