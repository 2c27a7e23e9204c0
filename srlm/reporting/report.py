"""HTML report of a run: per-iteration curves from `metrics.jsonl` and `iteration_<t>/eval.json`, and per-step
training curves from the trainer events in `metrics.jsonl`.

`srlm report RUN_DIR` writes `RUN_DIR/report/index.html` (self-contained: plots embedded as PNG data URIs) and
one PNG per figure next to it. Figures, in order:

- headline curves: win rate against the previous and the seed model (0.5 marked), judge-human agreement and
  rank correlation, judge saturation (share of top scores) and, with meta-rewarding, the meta-judge's position
  bias, RewardBench overall and sections (one figure per way of scoring), response lengths and the
  share of responses cut at the token limit, IFEval on the held-out verifiable prompts and the reward audit of
  the judge against the verifier (with the warning lines of `srlm.reporting.verifiable_summary` above the plots).
  Rates are drawn on a [0, 1] axis, with their 95% interval as a band
  where eval.json has one (`interval` next to the figure, e.g. `vs_previous: {win_rate, interval: [lo, hi]}`,
  or `intervals: {name: [lo, hi]}` naming a figure or a section beside it);
- every other per-iteration series, grouped by its parent key: rates on a [0, 1] axis, other values, and counts
  (series whose every value is an integer) each on plots of their own;
- per-step training curves on one axis across iterations (`train_step`, see `srlm.reporting.tracking`): loss of every
  training stage, DPO reward margin and accuracy, gradient norm, learning rate.
"""

from __future__ import annotations

import base64
import html
import math
import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from srlm.core.errors import SrlmError
from srlm.core.io import atomic_write_text, read_json, read_jsonl
from srlm.core.paths import RunPaths
from srlm.reporting.tracking import STEP_FIELDS, TRAINING_STAGES, flatten
from srlm.reporting.verifiable_summary import summary_lines

Series = dict[str, dict[int, float]]
Band = dict[int, tuple[float, float]]

EVENT_FIELDS = ("time", "iteration", "stage")
ITERATION_DIR = re.compile(r"^iteration_(\d+)$")
MANY_LINES = 8
RATE_NAME = re.compile(r"(rate|rates|accuracy|accuracies|exact_match|overall|truncated|share|fraction|five_best)$")
RATE_PARENTS = ("sections", "subsets")
INTERVAL_TARGETS = ("win_rate", "overall", "accuracy", "value")  # what a bare `interval` beside them is of
REWARDBENCH_KINDS = ("generative", "implicit_reward", "pairwise", "reference_free")


# ----------------------------------------------------------------------------------------------- collection


def _number(value) -> float | None:
    """The value as a finite float; None for booleans, None, non-numbers and NaN/inf."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _interval(value) -> tuple[float, float] | None:
    """`[lo, hi]` as a pair of finite floats with lo <= hi; None for anything else."""
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        return None
    lo, hi = (_number(v) for v in value)
    return (lo, hi) if lo is not None and hi is not None and lo <= hi else None


@dataclass
class RunData:
    """What the report draws from: per-iteration series, which are counts, their intervals, and per-step curves."""

    series: Series = field(default_factory=lambda: defaultdict(dict))  # key -> {iteration: value}
    non_integer: set[str] = field(default_factory=set)  # series with a value that is not an integer
    bands: dict[str, Band] = field(default_factory=lambda: defaultdict(dict))  # key -> {iteration: (lo, hi)}
    # (stage, trainer key) -> {train_step: (iteration, value)}
    steps: dict[tuple[str, str], dict[int, tuple[int, float]]] = field(default_factory=lambda: defaultdict(dict))

    def add(self, key: str, iteration: int, value) -> None:
        number = _number(value)
        if number is not None:
            self.series[key][iteration] = number
            if not isinstance(value, int):
                self.non_integer.add(key)

    def is_count(self, key: str) -> bool:
        return key not in self.non_integer


def _is_step_event(event: dict) -> bool:
    return "train_step" in event


def _collect_events(data: RunData, events: list[dict]) -> None:
    """`"<stage>/<metric>"` series from stage events, in file order so a later event overrides an earlier one;
    per-step trainer events (with a `train_step`) go to `data.steps`."""
    for event in events:
        iteration, stage = event.get("iteration"), event.get("stage")
        if not isinstance(iteration, int) or isinstance(iteration, bool) or not isinstance(stage, str):
            continue
        if _is_step_event(event):
            train_step = event["train_step"]
            if isinstance(train_step, int) and not isinstance(train_step, bool):
                for key, value in event.items():
                    number = _number(value) if key not in STEP_FIELDS else None
                    if number is not None:
                        data.steps[(stage, key)][train_step] = (iteration, number)
            continue
        for key, value in event.items():
            if key not in EVENT_FIELDS:
                data.add(f"{stage}/{key}", iteration, value)


def _eval_files(root: Path) -> list[tuple[int, Path]]:
    found = []
    for path in root.glob("iteration_*/eval.json"):
        match = ITERATION_DIR.match(path.parent.name)
        if match:
            found.append((int(match.group(1)), path))
    return sorted(found)


def _interval_key(node: dict, name: str) -> str | None:
    """The key (relative to `node`) an `intervals` entry `name` belongs to: a value beside it or a section/subset."""
    if _number(node.get(name)) is not None:
        return name
    for parent in RATE_PARENTS:
        if isinstance(node.get(parent), dict) and _number(node[parent].get(name)) is not None:
            return f"{parent}/{name}"
    return None


def _collect_intervals(data: RunData, node: dict, prefix: str, iteration: int) -> None:
    """Bands from `interval` (of the `win_rate`/`overall`/... beside it), `intervals: {name: [lo, hi]}` and
    `<name>_interval` keys anywhere in an eval.json."""
    found: dict[str, tuple[float, float] | None] = {}
    if "interval" in node:
        target = next((k for k in INTERVAL_TARGETS if _number(node.get(k)) is not None), None)
        if target:
            found[target] = _interval(node["interval"])
    if isinstance(node.get("intervals"), dict):
        for name, value in node["intervals"].items():
            target = _interval_key(node, name)
            if target:
                found[target] = _interval(value)
    for key, value in node.items():
        if key.endswith("_interval") and _number(node.get(key.removesuffix("_interval"))) is not None:
            found[key.removesuffix("_interval")] = _interval(value)
        elif isinstance(value, dict) and key != "intervals":
            _collect_intervals(data, value, f"{prefix}{key}/", iteration)
    for target, band in found.items():
        if band is not None:
            data.bands[f"{prefix}{target}"][iteration] = band


def _collect_evals(data: RunData, root: Path) -> None:
    """`"eval/<flattened key>"` series and their intervals from every `iteration_<t>/eval.json`."""
    for iteration, path in _eval_files(root):
        content = read_json(path)
        if not isinstance(content, dict):
            raise SrlmError(f"{path}: expected a JSON object, got {type(content).__name__}")
        for key, value in flatten(content).items():
            if key != "iteration" and not key.startswith("intervals/") and "/intervals/" not in key:
                data.add(f"eval/{key}", iteration, value)
        _collect_intervals(data, content, "eval/", iteration)


def collect_run(run_dir: str | Path) -> RunData:
    """Everything the report draws from a run directory; series keys sorted, iterations in order."""
    paths = RunPaths(Path(run_dir))
    if not paths.metrics.is_file():
        raise SrlmError(f"{paths.metrics}: no such file (not a run directory, or no stage has finished yet)")
    data = RunData()
    _collect_events(data, read_jsonl(paths.metrics))
    _collect_evals(data, paths.root)
    data.series = {key: dict(sorted(data.series[key].items())) for key in sorted(data.series)}
    data.steps = {key: dict(sorted(points.items())) for key, points in sorted(data.steps.items())}
    return data


def collect_series(run_dir: str | Path) -> Series:
    """Every per-iteration numeric series of a run: key -> {iteration: value}, keys sorted."""
    return collect_run(run_dir).series


# ------------------------------------------------------------------------------------------------ figures


@dataclass
class Line:
    key: str  # the series key, or `<stage>/<trainer key>` of a per-step curve
    label: str
    xs: list[float]
    ys: list[float]  # NaN breaks the line (between the iterations of a per-step curve)
    band: list[tuple[float, float] | None] | None = None  # 95% interval per point, where known
    dashed: bool = False


@dataclass
class Figure:
    title: str
    lines: list[Line]
    axis: str = "value"  # rate: [0, 1]; correlation: [-1, 1]; count; value
    x: str = "iteration"  # or "train step"
    ylabel: str = ""
    reference: float | None = None  # a horizontal line to read the curves against (0.5 for a win rate)
    boundaries: list[tuple[float, str]] = field(default_factory=list)  # (x, label): where an iteration starts

    @property
    def keys(self) -> list[str]:
        return [line.key for line in self.lines]

    @property
    def banded(self) -> list[str]:
        """Keys of the lines drawn with an interval band."""
        return [line.key for line in self.lines if line.band and any(b is not None for b in line.band)]


def is_rate(key: str) -> bool:
    """Whether a series is a rate in [0, 1], from its name: `*_rate`, accuracies, section and subset scores, ..."""
    parts = key.split("/")
    return bool(RATE_NAME.search(parts[-1])) or (len(parts) > 2 and parts[-2] in RATE_PARENTS)


def group_of(key: str) -> str:
    """The plot group of a series not in a headline figure: its parent key (`stage` for `stage/metric`)."""
    return key.rsplit("/", 1)[0] if "/" in key else key


def _plotted(key: str) -> bool:
    """Timings are in the table; interval bounds (`.../interval/lo`) are drawn as bands around their figure."""
    return not key.endswith("wall_s") and not re.search(r"interval(s?)(/|_)|/interval$|_interval/", key)


class _Planner:
    """Builds the figure list; each series is drawn once, in the first figure that takes it."""

    def __init__(self, data: RunData):
        self.data = data
        self.used: set[str] = set()
        self.figures: list[Figure] = []

    def take(self, *candidates: str) -> str | None:
        """The first candidate key with a series; every candidate counts as drawn (aliases of one value)."""
        found = next((k for k in candidates if k in self.data.series and k not in self.used), None)
        self.used.update(candidates)
        return found

    def line(self, key: str, label: str, dashed: bool = False) -> Line:
        points = self.data.series[key]
        bands = self.data.bands.get(key, {})
        band = [bands.get(x) for x in points] if bands else None
        return Line(key, label, list(points), list(points.values()), band, dashed)

    def add(self, title: str, lines: list[Line], **kwargs) -> None:
        if lines:
            self.figures.append(Figure(title, lines, **kwargs))

    def lines(self, pairs: list[tuple[str | None, str]], dashed: bool = False) -> list[Line]:
        return [self.line(key, label, dashed) for key, label in pairs if key]


def _headline(p: _Planner) -> None:
    lines = []
    for opponent in ("previous", "seed"):
        key = p.take(f"eval/vs_{opponent}/win_rate", f"eval/win_rate_vs_{opponent}")
        prob = p.take(f"eval/vs_{opponent}/prob_win_rate", f"eval/prob_win_rate_vs_{opponent}")
        lines += p.lines([(key, f"vs {opponent}")])
        lines += p.lines([(prob, f"vs {opponent} (from probabilities)")], dashed=True)
    p.add("Win rate", lines, axis="rate", ylabel="win rate (ties count half)", reference=0.5)

    agreement = [
        (p.take("eval/judge_human/pairwise_accuracy", "eval/judge_accuracy"), "pairwise accuracy"),
        (p.take("eval/judge_human/exact_match"), "exact score match"),
    ]
    p.add("Judge-human agreement", p.lines(agreement), axis="rate", ylabel="share of human judgments matched")
    correlation = [
        (p.take("eval/judge_human/spearman"), "Spearman"),
        (p.take("eval/judge_human/kendall_tau"), "Kendall tau"),
    ]
    p.add("Judge-human rank correlation", p.lines(correlation), axis="correlation", reference=0.0)

    judge = [
        (p.take("eval/judge_human/scores/top_score_share"), "M_t+1 on held-out human-ranked replies"),
        (p.take("judge/top_score_share"), "M_t on the iteration's candidates"),
    ]
    p.add("Judge saturation", p.lines(judge), axis="rate", ylabel="share of judgments giving the top score")
    meta = [
        (p.take("eval/meta_judge/position_a_rate", "meta_judge/position_a_rate"), "judgment shown first wins"),
        (p.take("eval/meta_judge/order_agreement", "meta_judge/order_agreement"), "same winner in both orders"),
    ]
    p.add("Meta-judge position bias", p.lines(meta), axis="rate", ylabel="share of comparisons", reference=0.5)

    _verifiable(p)
    series = p.data.series
    prefixes = {
        k.removesuffix("/overall") for k in series if k.startswith("eval/rewardbench") and k.endswith("/overall")
    }
    kinds = {f"eval/rewardbench/{kind}": i for i, kind in enumerate(REWARDBENCH_KINDS)}
    for prefix in sorted(prefixes, key=lambda x: (kinds.get(x, len(kinds)), x)):
        parts = [k for k in series if k.startswith(f"{prefix}/sections/")]
        parts = parts or [k for k in series if k.startswith(f"{prefix}/subsets/")]
        lines = p.lines([(p.take(f"{prefix}/overall"), "overall")] + [(p.take(k), k.rsplit("/", 1)[1]) for k in parts])
        name = (
            prefix.removeprefix("eval/").replace("rewardbench2", "RewardBench 2").replace("rewardbench", "RewardBench")
        )
        p.add(name.replace("/", " ").replace("_", " "), lines, axis="rate", ylabel="accuracy")

    who = sorted({k.split("/")[2] for k in series if k.startswith("eval/lengths/") and k.count("/") == 3})
    lengths = [(p.take(f"eval/lengths/{w}/mean"), f"{w} mean") for w in who]
    medians = [(p.take(f"eval/lengths/{w}/median"), f"{w} median") for w in who]
    p.add("Response length", p.lines(lengths) + p.lines(medians, dashed=True), ylabel="tokens")
    truncated = [(p.take(f"eval/lengths/{w}/truncated"), w) for w in who]
    p.add("Truncated responses", p.lines(truncated), axis="rate", ylabel="share cut at the token limit")


def _verifiable(p: _Planner) -> None:
    """IFEval on the held-out verifiable prompts, and the reward audit of each iteration's judge."""
    ifeval = [(p.take(f"eval/ifeval/{k}_accuracy"), k.replace("_", " ")) for k in ("prompt_strict", "prompt_loose")]
    ifeval += [(p.take(f"eval/ifeval/{k}_accuracy"), k.replace("_", " ")) for k in ("instruction_strict",)]
    p.add("IFEval, held-out verifiable prompts", p.lines(ifeval), axis="rate", ylabel="share of prompts/instructions")
    audit = [
        (p.take("eval/reward_audit/judge_verifier_accuracy"), "judge agrees with the verifier (pairs)"),
        (p.take("eval/reward_audit/chosen_passes_more_share"), "DPO chosen passes more constraints"),
        (p.take("eval/reward_audit/verified_pass_rate"), "candidates passing every constraint"),
    ]
    p.add("Reward audit: self-judge vs verifier", p.lines(audit), axis="rate", reference=0.5, ylabel="share")
    scores = [(p.take("eval/reward_audit/mean_self_score"), "mean self-score of the candidates (0-5)")]
    p.add("Reward audit: self-score", p.lines(scores), ylabel="score")


def _rest(p: _Planner) -> None:
    """Every series no headline figure took, by parent key: rates, then other values, then counts."""
    kinds: dict[str, dict[str, list[str]]] = {kind: defaultdict(list) for kind in ("rate", "value", "count")}
    for key in p.data.series:
        if key in p.used or not _plotted(key):
            continue
        kind = "rate" if is_rate(key) else "count" if p.data.is_count(key) else "value"
        kinds[kind][group_of(key)].append(key)
    suffix = {"rate": " (rates)", "value": "", "count": " (counts)"}
    for kind, groups in kinds.items():
        for group, keys in sorted(groups.items()):
            lines = p.lines([(k, k[len(group) + 1 :] or k) for k in keys])
            p.used.update(keys)
            p.add(f"{group}{suffix[kind]}", lines, axis=kind)


def _step_line(data: RunData, stage: str, metric: str, label: str) -> Line | None:
    """One stage's per-step curve over the run-wide train step, broken between iterations."""
    points = data.steps.get((stage, metric))
    if not points:
        return None
    xs: list[float] = []
    ys: list[float] = []
    last = None
    for step, (iteration, value) in points.items():
        if last is not None and iteration != last:
            xs.append(step - 0.5)
            ys.append(math.nan)
        xs.append(step)
        ys.append(value)
        last = iteration
    return Line(f"{stage}/{metric}", label, xs, ys)


def _boundaries(data: RunData, lines: list[Line]) -> list[tuple[float, str]]:
    """Where each iteration's training starts on the train-step axis of these curves."""
    first: dict[int, int] = {}
    for line in lines:
        for step, (iteration, _) in data.steps[tuple(line.key.split("/", 1))].items():
            first[iteration] = min(step, first.get(iteration, step))
    return [(step - 0.5, f"it {t}") for t, step in sorted(first.items())]


def _training(p: _Planner) -> None:
    def add(title: str, metric: str, stages=TRAINING_STAGES, **kwargs) -> None:
        lines = [line for s in stages if (line := _step_line(p.data, s, metric, s)) is not None]
        p.add(title, lines, x="train step", boundaries=_boundaries(p.data, lines), **kwargs)

    add("Training loss (per step)", "loss", ylabel="loss")
    add("DPO reward margin (per step)", "rewards/margins", ("dpo",), ylabel="chosen - rejected reward", reference=0.0)
    add("DPO reward accuracy (per step)", "rewards/accuracies", ("dpo",), axis="rate", ylabel="chosen > rejected")
    add("Gradient norm (per step)", "grad_norm", ylabel="norm before clipping")
    add("Learning rate (per step)", "learning_rate", ylabel="learning rate")


def plan_figures(data: RunData) -> list[Figure]:
    """The report's figures in order: headline curves, other per-iteration series, per-step training curves."""
    planner = _Planner(data)
    _headline(planner)
    _rest(planner)
    _training(planner)
    return planner.figures


# -------------------------------------------------------------------------------------------------- plots


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "figure"


def _draw(figure: Figure, path: Path) -> None:
    """One PNG: a line with markers per series, 95% interval bands where known."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure as MplFigure
    from matplotlib.ticker import MaxNLocator

    fig = MplFigure(figsize=(7.5, 4.2), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    per_step = figure.x == "train step"
    for line in figure.lines:
        style = "--" if line.dashed else "-"
        marker = "." if per_step and len(line.xs) > 30 else "o"
        (drawn,) = ax.plot(line.xs, line.ys, linestyle=style, marker=marker, label=line.label)
        if line.band:
            known = [(x, b) for x, b in zip(line.xs, line.band) if b is not None]
            color = drawn.get_color()
            lows = [b[0] if b else math.nan for b in line.band]
            highs = [b[1] if b else math.nan for b in line.band]
            ax.fill_between(line.xs, lows, highs, color=color, alpha=0.18, linewidth=0)
            ax.vlines(
                [x for x, _ in known], [b[0] for _, b in known], [b[1] for _, b in known], color=color, alpha=0.5
            )
    if figure.reference is not None:
        ax.axhline(figure.reference, color="grey", linewidth=0.8, linestyle=":")
    for x, label in figure.boundaries:
        ax.axvline(x, color="grey", linewidth=0.6, linestyle=":")
        ax.annotate(
            label,
            (x, 1.0),
            xycoords=("data", "axes fraction"),
            fontsize="x-small",
            color="grey",
            xytext=(2, -10),
            textcoords="offset points",
        )
    if figure.axis == "rate":
        ax.set_ylim(-0.03, 1.03)
    elif figure.axis == "correlation":
        ax.set_ylim(-1.05, 1.05)
    if per_step:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    else:
        ax.set_xticks(sorted({x for line in figure.lines for x in line.xs}))
    ax.set_xlabel(figure.x)
    ax.set_ylabel(figure.ylabel or {"rate": "rate", "count": "count"}.get(figure.axis, "value"))
    title = figure.title + (" (bands: 95% interval)" if figure.banded else "")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if len(figure.lines) > MANY_LINES:
        ax.legend(fontsize="x-small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    else:
        ax.legend(fontsize="small")
    fig.savefig(path, format="png", bbox_inches="tight")


def write_plots(figures: list[Figure], out_dir: Path) -> list[tuple[Figure, Path]]:
    """One PNG per figure into `out_dir` (earlier PNGs there are removed); returns (figure, path) pairs."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob("*.png"):
        old.unlink()
    written = []
    for i, figure in enumerate(figures):
        path = out_dir / f"{i:02d}_{_slug(figure.title)}.png"
        _draw(figure, path)
        written.append((figure, path))
    return written


# --------------------------------------------------------------------------------------------------- HTML


def format_value(value: float | None) -> str:
    """Three significant digits; whole numbers below 1e6 in full; empty when missing."""
    if value is None:
        return ""
    if float(value).is_integer() and abs(value) < 1e6:
        return str(int(value))
    return f"{value:.3g}"


def _table(series: Series) -> str:
    iterations = sorted({t for values in series.values() for t in values})
    head = "".join(f"<th>{t}</th>" for t in iterations)
    rows = []
    for key, values in series.items():
        cells = "".join(f"<td>{html.escape(format_value(values.get(t)))}</td>" for t in iterations)
        rows.append(f"<tr><th scope='row'>{html.escape(key)}</th>{cells}</tr>")
    body = "\n".join(rows)
    return f"<table>\n<thead><tr><th>series \\ iteration</th>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>"


def _figure(title: str, path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    name = html.escape(title)
    return f"<figure><img src='data:image/png;base64,{data}' alt='{name}'><figcaption>{name}</figcaption></figure>"


STYLE = """
body { font-family: sans-serif; margin: 2em; }
figure { display: inline-block; margin: 0.5em; }
img { max-width: 100%; }
table { border-collapse: collapse; font-size: 0.85em; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.5em; text-align: right; }
tbody th { text-align: left; font-weight: normal; font-family: monospace; }
"""


def render_html(title: str, plots: list[tuple[Figure, Path]], series: Series, notes: list[str] = ()) -> str:
    """The report page: heading, `notes` (the verifiable check), embedded plots and every series."""
    name = html.escape(title)
    per_iteration = [_figure(f.title, path) for f, path in plots if f.x == "iteration"]
    per_step = [_figure(f.title, path) for f, path in plots if f.x != "iteration"]
    sections = [f"<h2>Per iteration</h2>\n{chr(10).join(per_iteration)}"] if per_iteration else []
    if per_step:
        sections.append(f"<h2>Training, per step</h2>\n{chr(10).join(per_step)}")
    figures = "\n".join(sections) or "<p>No numeric series to plot.</p>"
    if notes:
        figures = f"<pre>{html.escape(chr(10).join(notes))}</pre>\n{figures}"
    return (
        f"<!DOCTYPE html>\n<html lang='en'>\n<head>\n<meta charset='utf-8'>\n<title>srlm report: {name}</title>\n"
        f"<style>{STYLE}</style>\n</head>\n<body>\n<h1>srlm report: {name}</h1>\n"
        f"{figures}\n<h2>All series</h2>\n{_table(series)}\n</body>\n</html>\n"
    )


@dataclass(frozen=True)
class Report:
    index: Path
    figures: list[tuple[Figure, Path]]  # in page order, with their PNG

    @property
    def titles(self) -> list[str]:
        return [f.title for f, _ in self.figures]


def make_report(run_dir: str | Path, out: str | Path | None = None) -> Report:
    """Write `index.html` and one PNG per figure into `out` (default `<run_dir>/report/`); the page and figures."""
    paths = RunPaths(Path(run_dir))
    data = collect_run(paths.root)
    out = Path(out) if out else paths.report_dir
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise SrlmError(f"{out}: cannot be written ({e.strerror}); give another directory with --out") from None
    plots = write_plots(plan_figures(data), out)
    index = out / "index.html"
    notes = summary_lines(paths.root)
    atomic_write_text(index, render_html(paths.root.resolve().name, plots, data.series, notes))
    return Report(index, plots)


def write_report(
    run_dir: str | Path, echo: Callable[[str], None] | None = print, out: str | Path | None = None
) -> Path:
    """`make_report`, printing the figures drawn (one line each) through `echo` unless it is None."""
    report = make_report(run_dir, out)
    if echo is not None:
        echo(f"{len(report.figures)} figure(s):")
        for figure, path in report.figures:
            bands = f"  [95% bands: {', '.join(figure.banded)}]" if figure.banded else ""
            echo(f"  {path.name}: {figure.title}{bands}")
    return report.index
