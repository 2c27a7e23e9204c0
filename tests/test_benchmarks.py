"""The benchmark command on the tiny random model: valid JSON with the headline figures, and a table on stdout."""

import importlib
import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from srlm.inference.engines.vllm import unavailable_reason

ROOT = Path(__file__).resolve().parent.parent
REQUIRED = (
    "generate.speedup_vs_sequential",
    "judge.speedup_expected_vs_sampled",
    "dpo.overhead_vs_trl",
    "iteration.wall_s",
    *(f"iteration.stages.{s}" for s in ("prompts", "generate", "judge", "pairs", "dpo", "eval")),
    "engines.roofline.matmul_gflops.square.median",
    "engines.roofline.matmul_gflops.decode.median",
    "engines.roofline.gflop_per_token",
    "engines.roofline.tokens_per_s_limit.square",
    "engines.roofline.tokens_per_s_limit.decode",
    "engines.roofline.fractions.generate_batched.of_square_limit",
)
REQUIRED_WITH_VLLM = (
    "engines.startup_s.hf.median",
    "engines.startup_s.vllm.median",
    *(
        f"engines.by_prompts.{scale}.{part}"
        for scale in ("1x", "4x")
        for part in (
            "generate.hf_tokens_per_s.median",
            "generate.vllm_tokens_per_s.median",
            "generate.vllm_vs_hf",
            "judge_sampled.vllm_vs_hf",
            "judge_expected.vllm_vs_hf",
        )
    ),
    *(f"engines.roofline.fractions.{b}_{scale}.of_decode_limit" for b in ("hf", "vllm") for scale in ("1x", "4x")),
    "chunking.chunked_vs_per_8_min",
    *(
        f"chunking.by_prompts.{scale}.{way}_tokens_per_s.median"
        for scale in ("1x", "4x")
        for way in ("per_8", "chunked")
    ),
    *(f"chunking.roofline.fractions.{way}_4x.of_decode_limit" for way in ("per_8", "chunked")),
)


def at(data: dict, dotted: str):
    for key in dotted.split("."):
        data = data[key]
    return data


@pytest.fixture
def bench_module(monkeypatch):
    """Import a module of `benchmarks/` (a folder of the repository, not an installed package)."""
    monkeypatch.syspath_prepend(str(ROOT))
    return importlib.import_module


@pytest.mark.slow
def test_quick_run_writes_every_headline_figure_and_a_table(tmp_path):
    out = tmp_path / "r.json"
    cmd = [sys.executable, "-m", "benchmarks.run", "--model", "tiny-random", "--quick", "--repeats", "1"]
    proc = subprocess.run([*cmd, "--out", str(out)], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    data = json.loads(out.read_text())
    vllm_runs = unavailable_reason() is None
    assert "error" not in data["engines"], data["engines"].get("error")
    for key in REQUIRED + (REQUIRED_WITH_VLLM if vllm_runs else ()):
        value = at(data, key)
        assert isinstance(value, (int, float)) and not isinstance(value, bool), (key, value)
    if not vllm_runs:
        assert data["engines"]["skipped"] == unavailable_reason()
    agreement = data["judge"]["pair_agreement"]
    assert isinstance(agreement, float) or (agreement is None and data["judge"]["pair_agreement_reason"])
    assert {t["met"] for t in data["targets"].values()} <= {True, False}
    assert data["machine"]["torch"] == torch.__version__
    assert data["command"] == shlex.join(["python", "-m", *cmd[2:], "--out", str(out)])  # pasteable, as it ran
    assert (
        data["srlm"]["commit"]
        == subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    )
    if not data["machine"]["cuda_devices"]:
        assert data["gpu"] == {"skipped": "no CUDA device"}
    assert "speedup vs sequential" in proc.stdout and "targets:" in proc.stdout
    assert "share of square limit" in proc.stdout and ("generate vllm/hf" in proc.stdout) == vllm_runs


def test_iteration_builds_pairs_from_expected_scores_when_no_sampled_verdict_parses(
    tmp_path, monkeypatch, bench_module
):
    common, iteration = bench_module("benchmarks.common"), bench_module("benchmarks.iteration")
    bench = common.Bench(model="tiny-random", repeats=1, quick=True, workdir=tmp_path)
    sampled = ["judge.mode=sampled", "judge.num_samples=1", "judge.compare_modes=true"]  # a random model: no verdict
    original = iteration.overrides
    monkeypatch.setattr(iteration, "overrides", lambda b, run_dir: original(b, run_dir) + sampled)
    out = iteration.run(bench)
    assert "pairs_fallback" in out and out["judge_parse_rate"] == 0.0
    assert set(out["stages"]) == {"prompts", "generate", "judge", "pairs", "dpo", "eval"}
    # the stages' own times (seconds, from the manifest) fit inside the driver's whole run, iteration 0 included
    assert 0 < out["wall_s"] < out["driver_wall_s"]


def test_targets_say_met_or_not_measured(bench_module):
    report = bench_module("benchmarks.report")
    got = report.targets({"generate": {"speedup_vs_sequential": 6.0}, "dpo": {"overhead_vs_trl": 1.5}})
    assert got["batched_generation"]["met"] is True
    assert got["dpo_overhead"]["met"] is False
    assert got["iteration"]["met"] is None and got["iteration"]["value"] is None
