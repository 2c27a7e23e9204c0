"""`srlm eval` on any model: RewardBench v1 and v2 files, prompt sets in three schemas, resume, bad input."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from srlm.cli.main import main
from srlm.core.io import read_json, read_jsonl

SMOKE = ["recipe=smoke", "generation.backend=hf"]
V1_SUBSETS = ("alpacaeval-easy", "llmbar-natural", "xstest-should-respond", "hep-python")


def write_jsonl(path: Path, rows: list[dict]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def v1_pairs(tmp_path: Path) -> str:
    rows = [
        {
            "id": f"{s}-{k}",
            "prompt": f"Question {k} about {s}?",
            "chosen": "A good answer.",
            "rejected": "No.",
            "subset": s,
        }
        for s in V1_SUBSETS
        for k in range(2)
    ]
    return write_jsonl(tmp_path / "rb.jsonl", rows)


def v2_rows(tmp_path: Path) -> str:
    rows = [
        {
            "id": str(k),
            "prompt": f"Task {k}: name a colour.",
            "chosen": ["Blue."],
            "rejected": ["Seven.", "Tuesday.", "I cannot."],
            "subset": "Focus" if k % 2 else "Factuality",
        }
        for k in range(4)
    ]
    return write_jsonl(tmp_path / "rb2.jsonl", rows)


def alpaca_prompts(tmp_path: Path) -> str:
    rows = [{"instruction": f"Write one word about the number {k}.", "output": f"Number {k}."} for k in range(3)]
    path = tmp_path / "alpaca.json"
    path.write_text(json.dumps(rows))
    return str(path)


def srlm_eval(*args: str) -> int:
    return main(["eval", "tiny-random", *args, *SMOKE])


def test_rewardbench_v1_and_win_rates_against_reference_outputs_then_resume(tmp_path, capsys):
    out = tmp_path / "out"
    args = ["--rewardbench", v1_pairs(tmp_path), "--reference", "tiny-random", "--prompts", alpaca_prompts(tmp_path)]
    args += ["--against", "reference", "--out", str(out)]
    assert srlm_eval(*args) == 0
    table = capsys.readouterr().out
    result = read_json(out / "eval.json")
    rb = result["rewardbench"]
    for kind in ("generative", "pairwise", "reference_free", "implicit_reward"):
        assert sorted(rb[kind]["subsets"]) == sorted(V1_SUBSETS), kind
        assert sorted(rb[kind]["sections"]) == ["Chat", "Chat Hard", "Reasoning", "Safety"], kind
    # the reference model is the model itself: every implicit reward is 0 - 0, a tie, which RewardBench counts wrong
    assert rb["implicit_reward"]["overall"] == 0.0
    assert result["win_rate"]["pairs"] == 3 and result["win_rate"]["against"] == "reference"
    assert result["lengths"]["model"]["truncated"] is not None and "win rate vs reference" in table
    rows_before = {p.name: p.read_text() for p in out.glob("eval_*.jsonl")}
    assert srlm_eval(*args) == 0  # the same command resumes: nothing is recomputed
    assert {p.name: p.read_text() for p in out.glob("eval_*.jsonl")} == rows_before
    assert read_json(out / "eval.json") == result


def test_another_evaluation_in_the_same_directory_is_refused(tmp_path, capsys):
    out = tmp_path / "out"
    assert srlm_eval("--rewardbench", v1_pairs(tmp_path), "--out", str(out)) == 0
    assert srlm_eval("--rewardbench", v2_rows(tmp_path), "--out", str(out)) == 2
    assert "changed: rewardbench" in capsys.readouterr().err


def test_rewardbench2_is_scored_best_of_n_with_its_random_baseline(tmp_path):
    out = tmp_path / "out"
    assert srlm_eval("--rewardbench", v2_rows(tmp_path), "--out", str(out)) == 0
    rb = read_json(out / "eval.json")["rewardbench"]
    assert rb["schema"] == "RewardBench 2" and rb["rows"] == 4
    for kind in ("generative", "reference_free"):
        assert sorted(rb[kind]["subsets"]) == ["Factuality", "Focus"]
        assert rb[kind]["random_baseline"] == pytest.approx({"Factuality": 0.25, "Focus": 0.25})
    scored = read_jsonl(out / "eval_rewardbench2.jsonl")
    assert len({r["id"] for r in scored}) == 4 * 4  # every completion of every row


def test_mt_bench_first_turns_against_another_model(tmp_path):
    questions = [{"question_id": 81 + k, "turns": [f"Plan day {k} of a trip.", "Now shorter."]} for k in range(2)]
    out = tmp_path / "out"
    prompts = write_jsonl(tmp_path / "mt.jsonl", questions)
    assert srlm_eval("--prompts", prompts, "--against", "tiny-random", "--out", str(out)) == 0
    asked = {r["prompt"] for r in read_jsonl(out / "eval_against_responses.jsonl")}
    assert asked == {"Plan day 0 of a trip.", "Plan day 1 of a trip."}
    assert read_json(out / "eval.json")["win_rate"]["pairs"] == 2


@pytest.mark.parametrize(
    ("rows", "flags", "message"),
    [
        (
            [{"prompt": "p", "chosen": "c", "rejected": "r"}],
            ["--rewardbench"],
            r"rb\.jsonl:1: missing field\(s\) subset",
        ),
        ([{"instruction": "Say hi."}], ["--against", "reference", "--prompts"], "needs a reference output"),
        ([{"question": "Say hi."}], ["--against", "reference", "--prompts"], r"rb\.jsonl:1: no prompt field"),
        (
            [{"prompt": "a", "prompt_id": "1"}, {"prompt": "b", "prompt_id": "1"}],
            ["--against", "x", "--prompts"],
            "duplicate id",
        ),
    ],
)
def test_bad_eval_inputs_name_the_file_and_row(tmp_path, capsys, rows, flags, message):
    path = write_jsonl(tmp_path / "rb.jsonl", rows)
    assert srlm_eval(*flags, path, "--out", str(tmp_path / "out")) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and re.search(message, err), err
