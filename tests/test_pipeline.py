"""End to end on the smoke recipe (tiny random model), in process and through the CLI."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import smoke_overrides

from srlm.config.compose import compose
from srlm.core.io import read_jsonl
from srlm.core.paths import LOOP_STAGES, SEED_STAGES
from srlm.pipeline.driver import run
from srlm.pipeline.manifest import Manifest
from srlm.pipeline.status import status_table
from srlm.reporting.report import write_report


def test_smoke_runs_two_iterations_with_pairs_and_eval(tmp_path):
    paths = run(compose(smoke_overrides(tmp_path / "run")))
    manifest = Manifest.load(paths.manifest)
    for stage in SEED_STAGES:
        assert manifest.is_done(0, stage)
    for t in (1, 2):
        for stage in LOOP_STAGES:
            assert manifest.is_done(t, stage), (t, stage)
        it = paths.iteration(t)
        pairs = read_jsonl(it.pairs)
        assert pairs and all(p["chosen_score"] > p["rejected_score"] for p in pairs)
        assert {"prompt_id", "prompt", "chosen", "rejected", "chosen_id", "rejected_id"} <= set(pairs[0])
        cands = read_jsonl(it.candidates)
        assert {"prompt_id", "candidate_id", "text", "completion_tokens", "finish_reason"} <= set(cands[0])
        assert (it.model / "model.safetensors").exists()
        assert json.loads(it.eval_json.read_text())["win_rate_vs_seed"] is not None
    prompts = [r["prompt"] for t in (1, 2) for r in read_jsonl(paths.iteration(t).prompts)]
    assert len(prompts) == len(set(prompts)), "a prompt was reused across iterations"
    events = read_jsonl(paths.metrics)
    assert {e["iteration"] for e in events if e["stage"] == "eval"} == {0, 1, 2}
    table = status_table(paths.root)
    assert "dpo" in table and "done" in table
    assert write_report(paths.root).exists()


def test_second_run_skips_done_stages(tmp_path):
    cfg = compose(smoke_overrides(tmp_path / "run", "num_iterations=1", "eval.enabled=false"))
    paths = run(cfg)
    before = paths.iteration(1).pairs.stat().st_mtime_ns
    run(cfg)
    assert paths.iteration(1).pairs.stat().st_mtime_ns == before


def test_cli_status_and_errors(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "srlm", "run", "recipe=smoke", "dpo.bogus=1"], capture_output=True, text=True
    )
    assert out.returncode == 2 and "bogus" in out.stderr and "Traceback" not in out.stderr
    out = subprocess.run([sys.executable, "-m", "srlm", "status", str(tmp_path)], capture_output=True, text=True)
    assert out.returncode == 2 and "manifest.json" in out.stderr


def test_zero_pairs_stops_with_a_clear_error(tmp_path):
    from srlm.core.errors import SrlmError

    cfg = compose(smoke_overrides(tmp_path / "run", "num_iterations=1", "pairs.min_gap=5"))
    try:
        run(cfg)
    except SrlmError as e:
        assert "0 preference pairs" in str(e) and "judge" in str(e)
    else:
        raise AssertionError("expected a zero-pairs error")
    manifest = Manifest.load(tmp_path / "run" / "manifest.json")
    assert manifest.is_done(1, "judge") and manifest.stage(1, "pairs")["status"] == "failed"


def test_dry_run_cli_prints_commands(tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "srlm",
            "run",
            "--dry-run",
            "recipe=smoke",
            f"run_dir={tmp_path}",
            "launcher=subprocess",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "-m srlm.stages.dpo" in out.stdout
    assert not (tmp_path / "manifest.json").exists()


@pytest.mark.slow
def test_subprocess_launcher_runs_stages_as_processes(tmp_path):
    paths = run(
        compose(smoke_overrides(tmp_path / "run", "num_iterations=1", "eval.enabled=false", "launcher=subprocess"))
    )
    assert read_jsonl(paths.iteration(1).pairs)
    assert (paths.iteration(1).dir / ".dpo.metrics.json").exists()


def test_wandb_offline_run_is_resumed_with_the_same_id(tmp_path):
    cfg = compose(smoke_overrides(tmp_path / "run", "num_iterations=1", "logger=wandb"))
    paths = run(cfg)
    run_id = Manifest.load(paths.manifest).data["wandb_run_id"]
    assert run_id and list((paths.root / "wandb").glob(f"offline-run-*-{run_id}"))
    run(cfg)
    assert Manifest.load(paths.manifest).data["wandb_run_id"] == run_id


RB_SUBSETS = ["llmbar-natural", "alpacaeval-easy", "donotanswer", "math-prm", "hep-python"]


def rewardbench_fixture(path):
    rows = []
    for i, subset in enumerate(RB_SUBSETS):
        rows.append(
            {
                "id": str(i),
                "subset": subset,
                "prompt": f"Question number {i}: what is {i} plus {i}?",
                "chosen": f"It is {2 * i}.",
                "rejected": "I like turtles.",
            }
        )
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_eval_with_a_rewardbench_file(tmp_path):
    rb = rewardbench_fixture(tmp_path / "rb.jsonl")
    paths = run(compose(smoke_overrides(tmp_path / "run", "num_iterations=1", f"eval.rewardbench={rb}")))
    result = json.loads(paths.iteration(1).eval_json.read_text())["rewardbench"]
    assert result["pairs"] == len(RB_SUBSETS)
    for kind in ("generative", "pairwise", "implicit_reward", "reference_free"):
        assert sorted(result[kind]["subsets"]) == sorted(RB_SUBSETS), kind  # every pair scored, under its subset
        assert set(result[kind]["sections"]) == {"Chat", "Chat Hard", "Safety", "Reasoning"}, kind
        assert result[kind]["missing_sections"] == ["Prior Sets"]
    assert "implicit_reward" not in json.loads(paths.iteration(0).eval_json.read_text())["rewardbench"]


def test_eval_prompts_overlapping_training_are_an_error(tmp_path):
    from srlm.core.errors import SrlmError

    first = read_jsonl(Path("data/seed/messages.jsonl"))[0]["text"]
    evals = tmp_path / "eval.jsonl"
    evals.write_text(json.dumps({"prompt_id": "e1", "prompt": first}) + "\n")
    try:
        run(
            compose(
                smoke_overrides(
                    tmp_path / "run", "num_iterations=0", f"data.eval_prompts={evals}", "data.ift_size=100"
                )
            )
        )
    except SrlmError as e:
        assert "also used for training" in str(e)
    else:
        raise AssertionError("expected an overlap error")
