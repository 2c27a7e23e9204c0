"""The HTML report of a synthetic run directory."""

import json

import pytest

from srlm.errors import SrlmError
from srlm.report import collect_series, format_value, group_of, plot_groups, write_report

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
    lines = [json.dumps({"time": 1000.0 + i, **e}) for i, e in enumerate(events)]
    (root / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    evals = [(None, 0.5, 0.4, 80), (0.6, 0.55, 0.45, 95), (0.7, 0.6, 0.5, 110)]
    for t, (win, overall, chat_hard, length) in enumerate(evals):
        it = root / f"iteration_{t}"
        it.mkdir()
        data = {
            "rewardbench": {"overall": overall, "sections": {"Chat Hard": chat_hard}},
            "lengths": {"model": {"mean": length}},
        }
        if win is not None:
            data["win_rate_vs_previous"] = win
        (it / "eval.json").write_text(json.dumps(data))


def test_collect_series(tmp_path):
    _make_run(tmp_path)
    series = collect_series(tmp_path)
    assert series["pairs/n_pairs"] == {1: 12.0, 2: 16.0}
    assert series["dpo/train/loss"] == {1: 0.6931, 2: 0.5123}
    assert series["eval/win_rate_vs_previous"] == {1: 0.6, 2: 0.7}
    assert series["eval/rewardbench/sections/Chat Hard"] == {0: 0.4, 1: 0.45, 2: 0.5}
    assert series["eval/lengths/model/mean"] == {0: 80.0, 1: 95.0, 2: 110.0}
    assert "sft/done" not in series and "judge/mean_score" not in series
    assert "eft/wall_s" in series


def test_groups_skip_timing_keys(tmp_path):
    _make_run(tmp_path)
    groups = plot_groups(collect_series(tmp_path))
    assert group_of("eval/rewardbench/sections/Chat Hard") == "eval/rewardbench"
    assert group_of("eval/win_rate_vs_previous") == "eval"
    assert groups["eval/rewardbench"] == ["eval/rewardbench/overall", "eval/rewardbench/sections/Chat Hard"]
    assert "eft" in groups and "eft/wall_s" not in groups["eft"]
    assert not any(k.endswith("wall_s") for keys in groups.values() for k in keys)


def test_format_value():
    assert format_value(None) == ""
    assert format_value(0.6931) == "0.693"
    assert format_value(16.0) == "16"
    assert format_value(1.25) == "1.25"
    assert format_value(123456.7) == "1.23e+05"


def test_write_report(tmp_path):
    run = tmp_path / "my_run"
    run.mkdir()
    _make_run(run)
    index = write_report(run)
    assert index == run / "report" / "index.html"
    text = index.read_text()
    assert "my_run" in text
    assert "data:image/png;base64," in text
    for value in ("0.693", "0.512", "0.875", "16", "0.45", "110", "2.25"):
        assert f"<td>{value}</td>" in text
    assert "eval/rewardbench/sections/Chat Hard" in text
    assert "eft/wall_s" in text
    # one plot per group of `_make_run`'s series; `eft` keeps `n` only (timing keys are not plotted)
    groups = [
        "dpo/train",
        "eft",
        "eval",
        "eval/lengths",
        "eval/rewardbench",
        "judge",
        "pairs",
        "pairs/margin",
        "sft/train",
    ]
    assert [g for g in groups if f"<figcaption>{g}</figcaption>" not in text] == []
    assert text.count("<figcaption>") == len(groups)
    pngs = sorted((run / "report").glob("*.png"))
    assert len(pngs) == len(groups)
    assert all(p.read_bytes()[:8] == PNG_SIGNATURE for p in pngs)
    assert text.count("data:image/png;base64,") == len(pngs)


def test_write_report_escapes_html(tmp_path):
    (tmp_path / "metrics.jsonl").write_text(json.dumps({"time": 0, "iteration": 0, "stage": "eft", "<b>x": 1}) + "\n")
    text = write_report(tmp_path).read_text()
    assert "eft/&lt;b&gt;x" in text and "<b>x" not in text


def test_missing_metrics_raises(tmp_path):
    with pytest.raises(SrlmError, match="metrics.jsonl"):
        write_report(tmp_path)
