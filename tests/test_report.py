"""The HTML report of a synthetic run: which figures, what is in each, bands where eval.json has intervals."""

import json
import math

import pytest

from srlm.core.errors import SrlmError
from srlm.reporting.report import (
    collect_run,
    collect_series,
    format_value,
    is_rate,
    make_report,
    plan_figures,
    write_report,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _make_run(root):
    events = [
        {"iteration": 0, "stage": "eft", "n": 40, "wall_s": 1.5},
        {"iteration": 0, "stage": "sft", "train/loss": 2.25, "wall_s": 3.0, "done": True},
        {"iteration": 1, "stage": "judge", "parse_rate": 0.875, "mean_score": None},
        {"iteration": 1, "stage": "pairs", "n_pairs": 12, "margin/mean": 1.25},
        {"iteration": 1, "stage": "dpo", "train/loss": 0.6931, "wall_s": 9.0},
        {"iteration": 2, "stage": "judge", "parse_rate": 0.9},
        {"iteration": 2, "stage": "pairs", "n_pairs": 15, "margin/mean": 1.5},
        {"iteration": 2, "stage": "pairs", "n_pairs": 16},  # a rerun overrides the earlier event
        {"iteration": 2, "stage": "dpo", "train/loss": 0.5123},
    ]
    # per-step trainer events as the driver logs them: the seed SFT's 2 steps, then 2 DPO steps per iteration
    steps = [(0, "sft", 1, 1, {"loss": 5.5}), (0, "sft", 2, 2, {"loss": 5.25})]
    for t, first, losses in ((1, 3, (0.69, 0.66)), (2, 5, (0.68, 0.61))):
        for i, loss in enumerate(losses):
            values = {"loss": loss, "rewards/margins": 0.1 * (i + t), "rewards/accuracies": 0.5 + 0.25 * i}
            steps.append((t, "dpo", i + 1, first + i, {**values, "grad_norm": 2.0}))
    events += [
        {"iteration": t, "stage": s, "step": step, "train_step": ts, **values} for t, s, step, ts, values in steps
    ]
    lines = [json.dumps({"time": 1000.0 + i, **e}) for i, e in enumerate(events)]
    (root / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    per_iteration = [  # win rate and its interval, RewardBench overall and Chat Hard, mean length, truncated share
        (None, None, 0.5, 0.4, 80.0, 0.0),
        (0.6, [0.4, 0.8], 0.55, 0.45, 95.0, 0.25),
        (0.7, [0.5, 0.9], 0.6, 0.5, 110.0, 0.5),
    ]
    for t, (win, interval, overall, chat_hard, length, truncated) in enumerate(per_iteration):
        it = root / f"iteration_{t}"
        it.mkdir()
        data = {
            "iteration": t,
            "lengths": {"model": {"mean": length, "median": 78.0, "truncated": truncated}},
            "judge_human": {
                "pairwise_accuracy": 0.65,
                "spearman": 0.3,
                "prompts": 10,
                "intervals": {"pairwise_accuracy": [0.4, 0.8], "spearman": None},
            },
            "judge_accuracy": 0.65,
            "rewardbench": {
                "pairs": 8,
                "generative": {
                    "overall": overall,
                    "sections": {"Chat": 0.7, "Chat Hard": chat_hard},
                    "intervals": {"overall": [0.3, 0.7], "Chat": [0.5, 0.9]},
                },
            },
        }
        if t:
            data["rewardbench"]["implicit_reward"] = {"overall": 0.55, "sections": {"Chat": 0.6}}
            data["win_rate_vs_previous"] = win
            data["win_rate_vs_seed"] = 0.55
            data["vs_previous"] = {
                "win_rate": win,
                "interval": interval,
                "wins": 4 + t,
                "losses": 4 - t,
                "position_a_rate": 0.5,
            }
        (it / "eval.json").write_text(json.dumps(data))


# the figures `_make_run` calls for, in page order, worked out by hand:
EXPECTED = {
    # headline
    "Win rate": ["eval/vs_previous/win_rate", "eval/win_rate_vs_seed"],
    "Judge-human agreement": ["eval/judge_human/pairwise_accuracy"],
    "Judge-human rank correlation": ["eval/judge_human/spearman"],
    "RewardBench generative": [
        "eval/rewardbench/generative/overall",
        "eval/rewardbench/generative/sections/Chat",
        "eval/rewardbench/generative/sections/Chat Hard",
    ],
    "RewardBench implicit reward": [
        "eval/rewardbench/implicit_reward/overall",
        "eval/rewardbench/implicit_reward/sections/Chat",
    ],
    "Response length": ["eval/lengths/model/mean", "eval/lengths/model/median"],
    "Truncated responses": ["eval/lengths/model/truncated"],
    # the rest by parent key: rates, values, counts (`eft/wall_s` and other timings are not plotted)
    "eval/vs_previous (rates)": ["eval/vs_previous/position_a_rate"],
    "judge (rates)": ["judge/parse_rate"],
    "dpo/train": ["dpo/train/loss"],
    "pairs/margin": ["pairs/margin/mean"],
    "sft/train": ["sft/train/loss"],
    "eft (counts)": ["eft/n"],
    "eval/judge_human (counts)": ["eval/judge_human/prompts"],
    "eval/rewardbench (counts)": ["eval/rewardbench/pairs"],
    "eval/vs_previous (counts)": ["eval/vs_previous/losses", "eval/vs_previous/wins"],
    "pairs (counts)": ["pairs/n_pairs"],
    # per step
    "Training loss (per step)": ["sft/loss", "dpo/loss"],
    "DPO reward margin (per step)": ["dpo/rewards/margins"],
    "DPO reward accuracy (per step)": ["dpo/rewards/accuracies"],
    "Gradient norm (per step)": ["dpo/grad_norm"],
}


def test_collect_run(tmp_path):
    _make_run(tmp_path)
    data = collect_run(tmp_path)
    series = data.series
    assert series == collect_series(tmp_path)
    assert series["pairs/n_pairs"] == {1: 12.0, 2: 16.0}
    assert series["dpo/train/loss"] == {1: 0.6931, 2: 0.5123}
    assert series["eval/win_rate_vs_previous"] == {1: 0.6, 2: 0.7}
    assert series["eval/rewardbench/generative/sections/Chat Hard"] == {0: 0.4, 1: 0.45, 2: 0.5}
    assert series["eval/lengths/model/mean"] == {0: 80.0, 1: 95.0, 2: 110.0}
    assert "sft/done" not in series and "judge/mean_score" not in series
    assert "eft/wall_s" in series
    # per-step events are curves over the train step, not per-iteration series
    assert not any(k in series for k in ("dpo/loss", "dpo/step", "dpo/train_step", "sft/loss"))
    assert data.steps[("dpo", "loss")] == {3: (1, 0.69), 4: (1, 0.66), 5: (2, 0.68), 6: (2, 0.61)}
    assert data.steps[("sft", "loss")] == {1: (0, 5.5), 2: (0, 5.25)}
    # intervals: `interval` beside a win rate, `intervals` naming a value beside them or a section; None skipped
    assert data.bands["eval/vs_previous/win_rate"] == {1: (0.4, 0.8), 2: (0.5, 0.9)}
    assert data.bands["eval/rewardbench/generative/sections/Chat"] == {t: (0.5, 0.9) for t in range(3)}
    assert data.bands["eval/judge_human/pairwise_accuracy"] == {t: (0.4, 0.8) for t in range(3)}
    assert set(data.bands) == {
        "eval/vs_previous/win_rate",
        "eval/rewardbench/generative/overall",
        "eval/rewardbench/generative/sections/Chat",
        "eval/judge_human/pairwise_accuracy",
    }
    assert not any("intervals" in k for k in series)
    assert data.is_count("eval/vs_previous/wins") and data.is_count("pairs/n_pairs")
    assert not data.is_count("eval/lengths/model/median")  # 78.0: a float, if a whole one


def test_rates_by_name():
    for key in ("eval/vs_previous/win_rate", "judge/parse_rate", "dpo/rewards_accuracies", "eval/x/sections/Chat"):
        assert is_rate(key), key
    for key in ("eval/vs_previous/wins", "pairs/margin/mean", "eval/judge_human/spearman", "eval/sections"):
        assert not is_rate(key), key


def test_figures(tmp_path):
    _make_run(tmp_path)
    figures = {f.title: f for f in plan_figures(collect_run(tmp_path))}
    assert list(figures) == list(EXPECTED)
    assert {title: f.keys for title, f in figures.items()} == EXPECTED
    # bands where eval.json has intervals, plain lines elsewhere
    assert figures["Win rate"].banded == ["eval/vs_previous/win_rate"]
    assert figures["RewardBench generative"].banded == [
        "eval/rewardbench/generative/overall",
        "eval/rewardbench/generative/sections/Chat",
    ]
    assert figures["RewardBench implicit reward"].banded == []
    win = figures["Win rate"].lines[0]
    assert (win.xs, win.band) == ([1, 2], [(0.4, 0.8), (0.5, 0.9)])
    # rates on a [0, 1] axis, counts on their own
    rates = ("Win rate", "Judge-human agreement", "RewardBench generative", "Truncated responses", "judge (rates)")
    assert all(figures[t].axis == "rate" for t in rates)
    assert figures["eval/vs_previous (counts)"].axis == "count"
    assert figures["Win rate"].reference == 0.5
    # per step: one axis across iterations, the line broken between iterations, each iteration's start marked
    loss = figures["Training loss (per step)"]
    assert loss.x == "train step"
    sft, dpo = loss.lines
    assert (sft.xs, sft.ys) == ([1, 2], [5.5, 5.25])
    assert dpo.xs == [3, 4, 4.5, 5, 6] and math.isnan(dpo.ys[2])
    assert [y for i, y in enumerate(dpo.ys) if i != 2] == [0.69, 0.66, 0.68, 0.61]
    assert loss.boundaries == [(0.5, "it 0"), (2.5, "it 1"), (4.5, "it 2")]
    assert figures["DPO reward accuracy (per step)"].axis == "rate"


def test_write_report(tmp_path):
    run = tmp_path / "my_run"
    run.mkdir()
    _make_run(run)
    printed = []
    index = write_report(run, echo=printed.append)
    assert index == run / "report" / "index.html"
    text = index.read_text()
    assert "my_run" in text
    for value in ("0.693", "0.512", "0.875", "16", "0.45", "110", "2.25"):
        assert f"<td>{value}</td>" in text
    assert "eval/rewardbench/generative/sections/Chat Hard" in text
    assert "eft/wall_s" in text
    captions = [
        line.split("<figcaption>")[1].split("</figcaption>")[0] for line in text.split("\n") if "<figcaption>" in line
    ]
    assert captions == list(EXPECTED)
    assert text.index("Per iteration") < text.index(">Win rate<") < text.index("Training, per step")
    assert text.index("Training, per step") < text.index(">Training loss (per step)<")
    pngs = sorted((run / "report").glob("*.png"))
    assert len(pngs) == len(EXPECTED)
    assert all(p.read_bytes()[:8] == PNG_SIGNATURE for p in pngs)
    assert text.count("data:image/png;base64,") == len(pngs)
    assert printed[0] == f"{len(EXPECTED)} figure(s):"
    assert printed[1] == "  00_Win_rate.png: Win rate  [95% bands: eval/vs_previous/win_rate]"
    assert [line.split(": ", 1)[1].split("  [")[0] for line in printed[1:]] == list(EXPECTED)


def test_make_report_returns_the_figures(tmp_path):
    _make_run(tmp_path)
    report = make_report(tmp_path)
    assert report.titles == list(EXPECTED)
    assert [p.name for _, p in report.figures] == sorted(p.name for p in (tmp_path / "report").glob("*.png"))


def test_rewrite_removes_old_plots(tmp_path):
    _make_run(tmp_path)
    stale = tmp_path / "report" / "99_gone.png"
    stale.parent.mkdir()
    stale.write_bytes(PNG_SIGNATURE)
    write_report(tmp_path, echo=None)
    assert not stale.exists()


def test_format_value():
    assert format_value(None) == ""
    assert format_value(0.6931) == "0.693"
    assert format_value(16.0) == "16"
    assert format_value(1.25) == "1.25"
    assert format_value(123456.7) == "1.23e+05"


def test_write_report_escapes_html(tmp_path):
    (tmp_path / "metrics.jsonl").write_text(json.dumps({"time": 0, "iteration": 0, "stage": "eft", "<b>x": 1}) + "\n")
    text = write_report(tmp_path, echo=None).read_text()
    assert "eft/&lt;b&gt;x" in text and "<b>x" not in text


def test_missing_metrics_raises(tmp_path):
    with pytest.raises(SrlmError, match="metrics.jsonl"):
        write_report(tmp_path)


def test_report_goes_where_out_says_and_an_unwritable_place_is_one_line(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    _make_run(run)
    index = write_report(run, echo=None, out=tmp_path / "elsewhere")
    assert index == tmp_path / "elsewhere" / "index.html" and index.exists()
    assert not (run / "report").exists()  # a finished run on read-only storage is only read
    (tmp_path / "file").write_text("x")
    with pytest.raises(SrlmError, match=r"file/report: cannot be written \(Not a directory\); give another"):
        write_report(run, echo=None, out=tmp_path / "file" / "report")
