"""The verifiable check as a committed result: the runs of `recipes/smollm2-135m/verifiable.yaml` (the method, the
oracle and the floor) read back into one JSON file, a PNG beside it and a short table on stdout.

    python -m benchmarks.verifiable_check self=runs/verifiable-self oracle=runs/verifiable-oracle \\
        random=runs/verifiable-random --command "srlm run recipe=smollm2-135m/verifiable run_dir=... (x3)" \\
        [--machine TEXT] [--out benchmarks/results]

Each NAME=RUN_DIR is a srlm run directory; `self`, `oracle` and `random` must have been run with
`judge.source=self`, `verifier` and `random`. Nothing is recomputed: the figures are the runs' own, read from
`iteration_<t>/eval.json` (`ifeval`: IFEval on the held-out verifiable set of the model M_{t+1} that iteration t
produced, M_1 at iteration 0, with `prompt_strict_vs_seed` = M_{t+1} - M_1 and its paired interval),
`iteration_<t>/reward_audit.json` (the judge M_t against the verifier on iteration t's candidates) and
`iteration_<t>/pairs_stats.json` (the DPO pairs of iteration t), for the stages `manifest.json` marks done; an
iteration not finished yet is simply absent, so a partial run reports what it has. In every arm the audit is of
the self-judge's scores (it runs whatever makes the pairs), its pair precision of the pairs the arm trained on. The
resolved `config.yaml` of each run gives the recipe's summary. Results go to `<out>/<date>-verifiable-<machine>.json`
and `.png`.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from datetime import datetime, timezone
from pathlib import Path

import yaml

from benchmarks.provenance import git_commit
from srlm.core.errors import SrlmError
from srlm.core.io import read_json, write_json
from srlm.core.paths import RunPaths
from srlm.evaluation.reward_audit import drift_warning

RESULTS_DIR = Path(__file__).resolve().parent / "results"
RECIPE = "recipes/smollm2-135m/verifiable.yaml"
EXPECTED_SOURCE = {"self": "self", "oracle": "verifier", "random": "random"}  # arm name -> judge.source
CONFIG_KEYS = {  # summary key -> path in the resolved config.yaml
    "name": ("name",),
    "model": ("model", "name"),
    "seed": ("seed",),
    "num_iterations": ("num_iterations",),
    "prompts_source": ("prompts", "source"),
    "prompts_pool": ("prompts", "pool"),
    "prompts_per_iteration": ("prompts", "per_iteration"),
    "num_candidates": ("generation", "num_candidates"),
    "generation_max_new_tokens": ("generation", "max_new_tokens"),
    "generation_backend": ("generation", "backend"),
    "judge_source": ("judge", "source"),
    "judge_mode": ("judge", "mode"),
    "eft_verifiable": ("eft", "verifiable"),
    "eft_verifiable_max_prompts": ("eft", "verifiable_max_prompts"),
    "dpo_beta": ("dpo", "beta"),
    "dpo_max_steps": ("dpo", "max_steps"),
    "eval_ifeval": ("eval", "ifeval"),
    "eval_max_new_tokens": ("eval", "max_new_tokens"),
}
SAME_ACROSS_ARMS = tuple(k for k in CONFIG_KEYS if k != "judge_source")  # what makes the arms comparable


class BadInput(Exception):
    """One line naming the bad argument; exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, not argparse's usage block
        raise BadInput(message)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = _Parser(prog="python -m benchmarks.verifiable_check", description=__doc__.split("\n\n")[0])
    parser.add_argument("arms", nargs="+", metavar="NAME=RUN_DIR", help="an arm and its run directory")
    parser.add_argument("--command", required=True, help="the commands that made the runs (recorded as given)")
    parser.add_argument("--machine", help="the machine the runs ran on (default: this one's CPU, cores, memory)")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR, help="results folder (default benchmarks/results)")
    args = parser.parse_args(argv)
    if not args.command.strip():
        raise BadInput("--command: empty; give the commands that made the runs")
    if args.machine is not None and not _slug(args.machine):
        raise BadInput(f"--machine {args.machine!r}: no letter or digit to name the results file with")
    if args.out.exists() and not args.out.is_dir():
        raise BadInput(f"--out {args.out}: not a folder")
    return args


# ------------------------------------------------------------------------------------------------- the arms


def _get(config: dict, path: tuple[str, ...]):
    node = config
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def load_arm(arg: str, seen: dict) -> tuple[str, Path, dict, dict]:
    """`NAME=RUN_DIR` checked: a new name, a run directory (manifest.json, config.yaml) of a verifiable run whose
    judge.source is the arm's. Returns (name, run dir, resolved config, manifest)."""
    name, sep, raw = arg.partition("=")
    if not sep or not re.fullmatch(r"[A-Za-z0-9_.-]+", name) or not raw:
        raise BadInput(f"{arg}: expected NAME=RUN_DIR (e.g. self=runs/verifiable-self)")
    if name in seen:
        raise BadInput(f"{arg}: arm {name!r} given twice")
    paths = RunPaths(Path(raw))
    if not paths.root.is_dir():
        raise BadInput(f"{arg}: {raw} is not a directory")
    for f in (paths.manifest, paths.config):
        if not f.is_file():
            raise BadInput(f"{arg}: {f} not found; is {raw} a srlm run directory?")
    try:
        manifest = read_json(paths.manifest)
        config = yaml.safe_load(paths.config.read_text(encoding="utf-8"))
    except Exception as e:  # noqa: BLE001 - any unreadable file is the argument's fault
        raise BadInput(f"{arg}: cannot read its manifest.json / config.yaml ({type(e).__name__}: {e})") from e
    if not isinstance(manifest, dict) or not isinstance(manifest.get("iterations"), dict):
        raise BadInput(f"{arg}: {paths.manifest} has no `iterations`; is {raw} a srlm run directory?")
    if not isinstance(config, dict):
        raise BadInput(f"{arg}: {paths.config} is not a config")
    if not _get(config, ("eval", "ifeval")):
        raise BadInput(f"{arg}: eval.ifeval is not set in its config: not a run of the verifiable check")
    source = _get(config, ("judge", "source"))
    if name in EXPECTED_SOURCE and source != EXPECTED_SOURCE[name]:
        expected = EXPECTED_SOURCE[name]
        raise BadInput(f"{arg}: its judge.source is {source!r}; the {name} arm is judge.source={expected}")
    seen[name] = raw
    return name, paths.root, config, manifest


def _done(manifest: dict, t: int, stage: str) -> bool:
    return manifest["iterations"].get(str(t), {}).get(stage, {}).get("status") == "done"


def _read(path: Path) -> dict | None:
    try:
        content = read_json(path)
    except FileNotFoundError:
        return None
    return content if isinstance(content, dict) else None


def iteration_figures(root: Path, manifest: dict, t: int) -> dict | None:
    """What iteration t has finished: the eval of M_{t+1}, the reward audit of the judge M_t and the DPO pairs."""
    it = RunPaths(root).iteration(t)
    evaluated = _read(it.eval_json) if _done(manifest, t, "eval") else None
    paired = t > 0 and _done(manifest, t, "pairs")
    stats = _read(it.pairs_stats) if paired else None
    audit = _read(it.reward_audit) if paired else None
    if audit is None and evaluated:
        audit = evaluated.get("reward_audit")
    if evaluated is None and stats is None and audit is None:
        return None
    ifeval = (evaluated or {}).get("ifeval")
    return {
        "iteration": t,
        "model": f"M_{t + 1}",  # the model this iteration produced and evaluated
        "judge": f"M_{t}" if t > 0 else None,  # the judge whose candidates' scores are audited
        "evaluated": evaluated is not None,
        "ifeval": ifeval,  # eval.json's block verbatim: figures, intervals, truncated, prompt_strict_vs_seed
        "prompt_strict_vs_seed": (ifeval or {}).get("prompt_strict_vs_seed"),
        "truncated": (ifeval or {}).get("truncated"),
        "reward_audit": audit,
        "dpo_pairs": stats.get("pairs") if stats else None,
        "pairs_stats": (
            {k: v for k, v in stats.items() if k != "reward_audit"} if stats else None
        ),  # the audit is kept whole above
    }


def arm_figures(root: Path, config: dict, manifest: dict) -> dict:
    found = [int(t) for t in manifest["iterations"] if str(t).isdigit()]
    iterations = [f for t in sorted(found) if (f := iteration_figures(root, manifest, t))]
    evaluated = [f for f in iterations if f["ifeval"]]
    planned = _get(config, ("num_iterations",))
    last = next((f for f in reversed(evaluated) if f["iteration"] > 0 and f["prompt_strict_vs_seed"]), None)
    stamps = [e.get("finished") for it in manifest["iterations"].values() for e in it.values() if e.get("finished")]
    return {
        "run_dir": str(root),
        "config": {k: _get(config, p) for k, p in CONFIG_KEYS.items()},
        "config_hash": manifest.get("config_hash"),
        "created": manifest.get("created"),
        "last_stage_finished": max(stamps) if stamps else None,
        "finished": isinstance(planned, int) and any(f["iteration"] == planned and f["evaluated"] for f in iterations),
        "models_evaluated": [f["model"] for f in evaluated],
        "last_minus_first": (
            {"models": f"{last['model']} - M_1", "iteration": last["iteration"], **last["prompt_strict_vs_seed"]}
            if last
            else None
        ),
        "drift_warning": drift_warning({f["iteration"]: f["reward_audit"] for f in iterations if f["reward_audit"]}),
        "iterations": iterations,
    }


# ------------------------------------------------------------------------------------------------- context


def _slug(text: str, max_len: int = 40) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:max_len].strip("-")


def machine(text: str | None) -> dict:
    """The given description, or this machine's: CPU model, cores, memory (the runs are assumed to be made here)."""
    if text is not None:
        return {"name": _slug(text), "description": text, "given": True}
    from benchmarks.machine import cpu_count, cpu_model, slug  # the other results files' names (imports torch)

    try:
        memory = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        memory = None
    import platform

    cores, model = cpu_count(), cpu_model()
    return {
        "name": f"cpu{cores}-{slug(model)}",
        "description": f"{model}, {cores} cores, {memory} GiB",
        "given": False,
        "cpu_model": model,
        "cpu_count": cores,
        "memory_gib": memory,
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def config_differences(arms: dict) -> dict:
    """Summary keys (other than judge.source) on which the arms' configs differ: the arms compare only where none."""
    out = {}
    for key in SAME_ACROSS_ARMS:
        values = {name: arm["config"][key] for name, arm in arms.items()}
        if len({repr(v) for v in values.values()}) > 1:
            out[key] = values
    return out


# ------------------------------------------------------------------------------------------------- output


def _fig(value, interval=None, digits: int = 3) -> str:
    if value is None:
        return "-"
    text = f"{value:.{digits}f}"
    return text + (f" [{interval[0]:.{digits}f}, {interval[1]:.{digits}f}]" if interval else "")


def table(result: dict) -> str:
    header = (
        f"{'arm':<8} {'it':>2} {'model':<5} {'IFEval prompt strict [95%]':<27} {'minus M_1 [95%]':<25} {'cut':>5}  "
        f"{'judge':<5} {'judge vs verifier [95%]':<25} {'pairs':>5} {'better':>6}"
    )
    lines = [header, "-" * len(header)]
    for name, arm in result["arms"].items():
        if not arm["iterations"]:
            lines.append(f"{name:<8} (no iteration finished yet)")
        for f in arm["iterations"]:
            s, a, d = f["ifeval"] or {}, f["reward_audit"] or {}, f["prompt_strict_vs_seed"] or {}
            strict = _fig(s.get("prompt_strict_accuracy"), (s.get("intervals") or {}).get("prompt_strict_accuracy"))
            gain = _fig(d.get("value"), d.get("interval"))
            judge = _fig(a.get("judge_verifier_accuracy"), a.get("judge_verifier_accuracy_interval"))
            model, cut = f["model"] if f["evaluated"] else "-", _fig(f["truncated"], digits=2)
            pairs = "-" if f["dpo_pairs"] is None else f["dpo_pairs"]
            lines.append(
                f"{name:<8} {f['iteration']:>2} {model:<5} {strict:<27} {gain:<25} {cut:>5}  "
                f"{f['judge'] or '-':<5} {judge:<25} {pairs:>5} {_fig(a.get('chosen_passes_more_share'), digits=2):>6}"
            )
        if arm["drift_warning"]:
            lines.append(f"{name:<8} {arm['drift_warning']}")
    lines.append("cut: share of the held-out answers cut at eval.max_new_tokens; better: share of the DPO pairs whose")
    lines.append("chosen answer passes more constraints than its rejected one; the audited judge is M_t's self-judge")
    if result["config_differences"]:
        lines.append(f"warning: the arms' configs differ in {', '.join(result['config_differences'])}")
    return "\n".join(lines)


def _errorbars(points: list[tuple[float, float, list | None]]) -> list[list[float]]:
    return [[y - iv[0] if iv else 0.0 for _, y, iv in points], [iv[1] - y if iv else 0.0 for _, y, iv in points]]


def plot(result: dict, path: Path) -> None:
    """Panel 1: IFEval prompt-level strict accuracy of each model M_k, by arm; panel 2: the judge M_t's pairwise
    accuracy against the verifier on iteration t's candidates, by arm. Bars: the runs' 95% intervals."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    names = list(result["arms"])
    for i, name in enumerate(names):
        arm = result["arms"][name]
        shift = (i - (len(names) - 1) / 2) * 0.08
        strict = [
            (f["iteration"] + 1 + shift, f["ifeval"]["prompt_strict_accuracy"],
             (f["ifeval"].get("intervals") or {}).get("prompt_strict_accuracy"))
            for f in arm["iterations"]
            if f["ifeval"] and f["ifeval"].get("prompt_strict_accuracy") is not None
        ]  # fmt: skip
        judge = [
            (f["iteration"] + shift, f["reward_audit"]["judge_verifier_accuracy"],
             f["reward_audit"].get("judge_verifier_accuracy_interval"))
            for f in arm["iterations"]
            if f["reward_audit"] and f["reward_audit"].get("judge_verifier_accuracy") is not None
        ]  # fmt: skip
        source = arm["config"]["judge_source"]
        for ax, points in ((left, strict), (right, judge)):
            if points:
                ax.errorbar(
                    [x for x, _, _ in points], [y for _, y, _ in points], yerr=_errorbars(points),
                    marker="o", capsize=3, label=f"{name} (judge.source={source})",
                )  # fmt: skip
    left.set(title="IFEval prompt-level strict, held-out set", xlabel="model M_k", ylabel="accuracy (95% interval)")
    right.set(title="judge vs verifier, iteration's candidates", xlabel="iteration t (judge M_t)")
    right.set_ylabel("pairwise accuracy (95% interval)")
    right.axhline(0.5, color="grey", lw=0.8, ls=":")
    planned = [a["config"]["num_iterations"] for a in result["arms"].values()]
    found = [f["iteration"] for a in result["arms"].values() for f in a["iterations"]]
    last = max([t for t in planned if isinstance(t, int)] + found + [1])
    left.set_xticks(range(1, last + 2), [f"M_{k}" for k in range(1, last + 2)])
    right.set_xticks(range(1, last + 1), [f"{t} (M_{t})" for t in range(1, last + 1)])
    left.set_xlim(0.5, last + 1.5)
    right.set_xlim(0.5, last + 0.5)
    for ax in (left, right):
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    fig.suptitle(f"verifiable check, {result['machine']['name']}, {result['date']}", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        args = parse_args(argv)
        seen: dict = {}
        loaded = [load_arm(a, seen) for a in args.arms]  # every argument checked before any work
    except BadInput as e:
        print(f"verifiable_check: error: {e}", file=sys.stderr)
        return 2
    now = datetime.now(timezone.utc)
    result = {
        "benchmark": "verifiable",
        "recipe": RECIPE,
        "command": args.command,
        "invocation": "python -m benchmarks.verifiable_check " + " ".join(argv),
        "machine": machine(args.machine),
        "date": now.date().isoformat(),
        "generated_at": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "srlm": git_commit(),
        "reads": "per run: config.yaml, manifest.json (stages done), iteration_<t>/eval.json (ifeval), "
        "iteration_<t>/reward_audit.json, iteration_<t>/pairs_stats.json",
    }
    try:
        result["arms"] = {name: arm_figures(root, config, manifest) for name, root, config, manifest in loaded}
    except SrlmError as e:  # an unreadable eval.json, reward_audit.json or pairs_stats.json
        print(f"verifiable_check: error: {e}", file=sys.stderr)
        return 2
    result["config_differences"] = config_differences(result["arms"])
    out = args.out / f"{result['date']}-verifiable-{result['machine']['name']}.json"
    result["plot"] = out.with_suffix(".png").name
    write_json(out, result)
    plot(result, out.with_suffix(".png"))
    print(table(result))
    print(f"[verifiable_check] results: {out} and {out.with_suffix('.png')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
