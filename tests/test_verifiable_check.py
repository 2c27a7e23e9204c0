"""`benchmarks.verifiable_check` on real smoke runs of its three arms (the self arm and the oracle finished, the
random arm killed in its last DPO): the JSON carries each run's own figures, a partial run reports what it has,
and a bad argument stops it with one line and exit 2 before any work."""

from __future__ import annotations

import importlib
import json
import re
import subprocess
import sys
from pathlib import Path

import conftest
import pytest

from srlm.cli.main import main as srlm_main
from srlm.core.io import read_json, read_jsonl
from srlm.core.paths import RunPaths

pytestmark = pytest.mark.slow  # three real smoke runs, one killed

REPO = Path(__file__).resolve().parents[1]
HELD_OUT = REPO / "data" / "verifiable" / "dev.jsonl"


@pytest.fixture
def verifiable_check(monkeypatch):
    """`benchmarks/verifiable_check.py` (a folder of the repository, not an installed package)."""
    monkeypatch.syspath_prepend(str(REPO))
    return importlib.import_module("benchmarks.verifiable_check")


@pytest.fixture(scope="module")
def arms(tmp_path_factory) -> dict[str, Path]:
    """Smoke runs with IFEval every iteration: self and oracle (judge.source=verifier) finished, random killed at
    iteration 1's first DPO checkpoint (its pairs and audit done, M_2 never evaluated)."""
    tmp = tmp_path_factory.mktemp("vcheck")
    # "at least 3 words": the tiny random model's byte soup passes it on some candidates and not on others
    words = {
        "instruction_id_list": ["length_constraints:number_words"],
        "kwargs": [{"num_words": 3, "relation": "at least"}],
    }
    pool = [
        {"key": k, "prompt": f"Name {k} things in a kitchen. Answer with at least 3 words.", **words}
        for k in range(12)
    ]
    (tmp / "pool.jsonl").write_text("".join(json.dumps(r) + "\n" for r in pool))
    (tmp / "heldout.jsonl").write_text("".join(json.dumps(r) + "\n" for r in read_jsonl(HELD_OUT)[:4]))
    common = ["recipe=smoke", "num_iterations=1", f"prompts.pool={tmp / 'pool.jsonl'}", "prompts.per_iteration=6",
              "generation.num_candidates=4", f"eval.ifeval={tmp / 'heldout.jsonl'}", "eval.win_rate_prompts=2",
              "logger=none"]  # fmt: skip
    runs = {name: tmp / name for name in ("self", "oracle", "random")}
    for name, source in (("self", "self"), ("oracle", "verifier")):
        assert srlm_main(["run", *common, f"run_dir={runs[name]}", f"judge.source={source}"]) == 0
    killed = conftest.srlm_run([*common, "judge.source=random"], runs["random"], kill_at="dpo:1")
    assert killed.returncode != 0 and (RunPaths(runs["random"]).iteration(1).reward_audit).exists()
    return runs


def test_the_json_carries_the_runs_own_figures_and_what_a_partial_run_has(verifiable_check, arms, tmp_path, capsys):
    out = tmp_path / "results"
    args = [f"{name}={run}" for name, run in arms.items()]
    args += ["--command", "srlm run ... (x3)", "--machine", "Test Box, 2 cores", "--out", str(out)]
    assert verifiable_check.main(args) == 0
    printed = capsys.readouterr().out
    (path,) = out.glob("*.json")
    assert re.fullmatch(r"\d{4}-\d\d-\d\d-verifiable-test-box-2-cores\.json", path.name)
    assert path.with_suffix(".png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    result = read_json(path)
    assert result["command"] == "srlm run ... (x3)" and result["machine"]["description"] == "Test Box, 2 cores"
    assert re.fullmatch(r"[0-9a-f]{40}", result["srlm"]["commit"]) and result["config_differences"] == {}
    for name, source in (("self", "self"), ("oracle", "verifier"), ("random", "random")):
        arm = result["arms"][name]
        assert arm["config"]["judge_source"] == source and arm["config"]["num_candidates"] == 4
        assert arm["config"]["prompts_per_iteration"] == 6 and arm["config"]["num_iterations"] == 1
        paths = RunPaths(arms[name])
        for figures in arm["iterations"]:
            it = paths.iteration(figures["iteration"])
            if figures["evaluated"]:  # read back verbatim from the run's eval.json, intervals included
                assert figures["ifeval"] == read_json(it.eval_json)["ifeval"]
                assert figures["ifeval"]["intervals"]["prompt_strict_accuracy"]
                assert figures["truncated"] == read_json(it.eval_json)["ifeval"]["truncated"]
            if figures["iteration"] > 0:
                assert figures["reward_audit"] == read_json(it.reward_audit)
                assert figures["dpo_pairs"] == read_json(it.pairs_stats)["pairs"] > 0
        assert name in printed
    for name in ("self", "oracle"):
        arm, evaluated = result["arms"][name], read_json(RunPaths(arms[name]).iteration(1).eval_json)
        assert arm["finished"] and arm["models_evaluated"] == ["M_1", "M_2"]
        assert [f["iteration"] for f in arm["iterations"]] == [0, 1]
        gain = evaluated["ifeval"]["prompt_strict_vs_seed"]
        assert arm["last_minus_first"] == {"models": "M_2 - M_1", "iteration": 1, **gain}
        assert arm["iterations"][1]["reward_audit"] == evaluated["reward_audit"]
        assert arm["iterations"][1]["reward_audit"]["judge_verifier_accuracy_interval"] is not None
    assert result["arms"]["oracle"]["iterations"][1]["reward_audit"]["chosen_passes_more_share"] == 1.0
    partial = result["arms"]["random"]  # killed in iteration 1's DPO: M_2 absent, its pairs and audit reported
    assert not partial["finished"] and partial["models_evaluated"] == ["M_1"] and partial["last_minus_first"] is None
    first, second = partial["iterations"]
    assert first["ifeval"] == read_json(RunPaths(arms["random"]).iteration(0).eval_json)["ifeval"]
    assert not second["evaluated"] and second["ifeval"] is None and second["reward_audit"]["verifiable_candidates"]


def bad_arguments(arms: dict[str, Path], empty: Path) -> list[tuple[list[str], str, str]]:
    """(argv, the argument the line names, what it says)."""
    self_arm, command = f"self={arms['self']}", ["--command", "c"]
    return [
        (["self", *command], "self", "expected NAME=RUN_DIR"),
        ([f"={arms['self']}", *command], f"={arms['self']}", "expected NAME=RUN_DIR"),
        ([f"self={empty / 'missing'}", *command], f"self={empty / 'missing'}", "is not a directory"),
        ([f"self={empty}", *command], f"self={empty}", "manifest.json not found; is .* a srlm run directory"),
        ([self_arm, f"oracle={arms['self']}", *command], f"oracle={arms['self']}", "judge.source is 'self'"),
        ([self_arm, f"self={arms['oracle']}", *command], f"self={arms['oracle']}", "arm 'self' given twice"),
        ([self_arm], "--command", "required"),
        ([self_arm, "--command", " "], "--command", "empty"),
    ]


def test_a_bad_argument_exits_2_with_one_line_naming_it_before_any_work(verifiable_check, arms, tmp_path, capsys):
    out = tmp_path / "results"
    for argv, named, message in bad_arguments(arms, tmp_path):
        assert verifiable_check.main([*argv, "--out", str(out)]) == 2, argv
        captured = capsys.readouterr()
        assert captured.out == "" and len(captured.err.splitlines()) == 1, captured.err
        assert named in captured.err and re.search(message, captured.err), captured.err
    assert not out.exists()  # nothing written


def test_the_module_refuses_a_malformed_argument_from_the_command_line(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.verifiable_check", "self:runs/x", "--command", "c", "--out", str(tmp_path)],
        capture_output=True, text=True, cwd=REPO,
    )  # fmt: skip
    assert done.returncode == 2 and done.stdout == "" and list(tmp_path.iterdir()) == []
    line = "verifiable_check: error: self:runs/x: expected NAME=RUN_DIR (e.g. self=runs/verifiable-self)"
    assert done.stderr.splitlines() == [line]
