"""The verifiable check of a run, per iteration: IFEval's prompt-level strict accuracy of the model on the held-out
verifiable set and the reward audit of the iteration's judge, with a warning line when self-scores rise while
verified accuracy falls and one when a judge is not shown better than chance against the verifier. Read by
`srlm status` and `srlm report`."""

from __future__ import annotations

from pathlib import Path

from srlm.core.io import read_json
from srlm.core.paths import RunPaths
from srlm.evaluation.reward_audit import chance_warning, drift_warning


def _iterations(root: Path) -> list[int]:
    found = [p.name.removeprefix("iteration_") for p in root.glob("iteration_*") if p.is_dir()]
    return sorted(int(t) for t in found if t.isdigit())


def audits(run_dir) -> dict[int, dict]:
    paths = RunPaths(Path(run_dir))
    out = {}
    for t in _iterations(paths.root):
        if paths.iteration(t).reward_audit.is_file():
            out[t] = read_json(paths.iteration(t).reward_audit)
    return out


def ifeval_scores(run_dir) -> dict[int, dict]:
    """`eval.json`'s `ifeval` block per iteration (iteration 0: M_1, iteration t: M_{t+1})."""
    paths = RunPaths(Path(run_dir))
    out = {}
    for t in _iterations(paths.root):
        path = paths.iteration(t).eval_json
        content = read_json(path) if path.is_file() else {}
        if isinstance(content, dict) and isinstance(content.get("ifeval"), dict):
            out[t] = content["ifeval"]
    return out


def _figure(value, interval) -> str:
    if value is None:
        return "-"
    return f"{value:.3f}" + (f" [{interval[0]:.3f}, {interval[1]:.3f}]" if interval else "")


def summary_lines(run_dir) -> list[str]:
    """The verifiable check as text lines (none when the run has no verifiable prompts)."""
    scores, audit = ifeval_scores(run_dir), audits(run_dir)
    if not scores and not audit:
        return []
    lines = [
        "verifiable check (IFEval prompt-level strict of the model each iteration produced; its judge's reward audit)",
        f"{'iter':<5} {'IFEval strict [95%]':<26} {'minus M_1 [95%]':<26} {'judge vs verifier [95%]':<26} "
        f"{'self-score':>10} {'verified':>9}",
    ]
    for t in sorted(set(scores) | set(audit)):
        s, a = scores.get(t, {}), audit.get(t, {})
        strict = _figure(s.get("prompt_strict_accuracy"), s.get("intervals", {}).get("prompt_strict_accuracy"))
        gain = s.get("prompt_strict_vs_seed", {})
        gain = _figure(gain.get("value"), gain.get("interval"))
        judge = _figure(a.get("judge_verifier_accuracy"), a.get("judge_verifier_accuracy_interval"))
        self_score = a.get("mean_self_score")
        verified = a.get("verified_pass_rate")
        lines.append(
            f"{t:<5} {strict:<26} {gain:<26} {judge:<26} {'-' if self_score is None else f'{self_score:.2f}':>10} "
            f"{'-' if verified is None else f'{verified:.3f}':>9}"
        )
    return lines + [w for w in (drift_warning(audit), chance_warning(audit)) if w]
