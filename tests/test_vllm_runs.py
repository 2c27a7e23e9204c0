"""The smoke recipe end to end with every model-running stage on vLLM, and SIGKILL + resume under vLLM: generate,
judge and meta-judge sharing one engine (`generation.share_engine`) resume to the rows of an engine per stage."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import conftest
import pytest
from omegaconf import OmegaConf

from srlm.config.checks import BACKEND_KEYS
from srlm.core.io import read_jsonl
from srlm.inference.engines.vllm import unavailable_reason

pytestmark = pytest.mark.slow
if unavailable_reason():
    pytest.fail(f"vLLM must run in the test suite: {unavailable_reason()}", pytrace=False)

CHUNK = 4
ARGS = [
    "recipe=smoke",
    "num_iterations=1",
    "generation.backend=vllm",
    "generation.vllm_kv_cache_gb=0.25",
    "generation.batch_size=1",
    "judge.batch_size=2",
    f"generation.chunk_size={CHUNK}",  # vLLM takes chunks: 8 candidates are judged in two
]
TORCHRUN = str(Path(sys.executable).parent / "torchrun")
ROWS = ("candidates.jsonl", "judgments.jsonl", "pairs.jsonl")


def srlm_run(run_dir, *overrides, kill_at=None):
    return conftest.srlm_run([*ARGS, *overrides], run_dir, kill_at)


@pytest.fixture(scope="module")
def unbroken(tmp_path_factory):
    """A whole run, every stage in its own process with its own engine."""
    run_dir = tmp_path_factory.mktemp("vllm-unbroken")
    out = srlm_run(run_dir, "generation.share_engine=false")
    assert out.returncode == 0, out.stderr[-3000:]
    return run_dir


def test_smoke_recipe_runs_end_to_end_on_vllm(unbroken):
    config = OmegaConf.load(unbroken / "config.yaml")
    assert {key: OmegaConf.select(config, key) for key in BACKEND_KEYS} == dict.fromkeys(BACKEND_KEYS, "vllm")
    candidates = read_jsonl(unbroken / "iteration_1" / "candidates.jsonl")
    assert len(candidates) == 4 * 2 and all(c["finish_reason"] in ("stop", "length") for c in candidates)
    assert len({c["text"] for c in candidates}) > 1
    evaluation = json.loads((unbroken / "iteration_1" / "eval.json").read_text())
    assert evaluation["win_rate_vs_previous"] is not None and "judge_human" in evaluation
    manifest = json.loads((unbroken / "manifest.json").read_text())
    assert all(s["status"] == "done" for it in manifest["iterations"].values() for s in it.values())


def test_a_shared_engine_killed_in_the_judge_keeps_generate_and_resumes_to_the_rows_of_separate_engines(
    tmp_path, unbroken
):
    # a torn line in generate is resumed the same way on both engines (tests/test_resume.py kills it under HF)
    killed = srlm_run(tmp_path, "eval.enabled=false", kill_at="judgments.jsonl:3:torn")
    assert killed.returncode != 0 and "stage judge of iteration 1 failed" in killed.stderr, killed.stderr[-2000:]
    partial = (tmp_path / "iteration_1" / "judgments.jsonl.partial").read_text().splitlines()
    assert len(partial) == CHUNK + 1 and not partial[-1].endswith("}")  # one whole chunk, then the torn line
    manifest = json.loads((tmp_path / "manifest.json").read_text())["iterations"]["1"]
    assert manifest["generate"]["status"] == "done" and manifest["judge"]["status"] == "failed"
    assert set(manifest["generate"]["outputs"]) == {"iteration_1/candidates.jsonl"}

    resumed = srlm_run(tmp_path, "eval.enabled=false")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    for name in ROWS:
        assert read_jsonl(tmp_path / "iteration_1" / name) == read_jsonl(unbroken / "iteration_1" / name), name


def test_two_vllm_replicas_write_the_rows_of_one(tmp_path, unbroken):
    """Data parallel: two torchrun ranks, each with its own vLLM engine on its share of the cores."""
    run_dir = tmp_path / "run"
    shutil.copytree(unbroken, run_dir)
    for name in ("candidates.jsonl", "judgments.jsonl"):
        (run_dir / "iteration_1" / name).unlink()
    for stage in ("generate", "judge"):
        cmd = [TORCHRUN, "--standalone", "--nproc_per_node=2", "-m", f"srlm.stages.{stage}", str(run_dir), "1"]
        out = subprocess.run(cmd, capture_output=True, text=True)
        assert out.returncode == 0, out.stderr[-3000:]
    assert read_jsonl(run_dir / "iteration_1" / "candidates.jsonl") == read_jsonl(
        unbroken / "iteration_1" / "candidates.jsonl"
    )
    two, one = (read_jsonl(d / "iteration_1" / "judgments.jsonl") for d in (run_dir, unbroken))
    assert [r["candidate_id"] for r in two] == [r["candidate_id"] for r in one]
    assert max(abs(a["score"] - b["score"]) for a, b in zip(two, one)) <= 1e-3
