"""The GPU check: every GPU path of srlm in one command, within 10 minutes on one GPU, results in one JSON.

    ./launch.sh gpu-check                      # or: python -m benchmarks.gpu_check [--out FILE] [--work DIR]
    python -m benchmarks.gpu_check --dry-run   # any machine: compose every part and print its stages' commands

Parts, each a fresh process with a time limit of its own, recorded as they finish (a part that fails or runs out
of time is recorded with its exit status and the end of its output, and the next part runs):
- smoke_vllm_bf16: the smoke recipe, one iteration, every model-running stage on vLLM, bf16;
- smoke_zero3_one_gpu: the smoke recipe's seed SFT and DPO under DeepSpeed ZeRO-3 on one GPU, bf16;
- default_recipe: one iteration of the default recipe (the embedded model) on the GPU;
- benchmarks_gpu: `benchmarks/gpu.py` (HF vs vLLM generation in tokens/s, DPO tokens/s and peak memory).
The srlm runs start vLLM engines without graph capture (`generation.enforce_eager=true`: seconds, not a minute,
per engine); `benchmarks/gpu.py` runs vLLM as configured by default (compiled), so both paths are exercised.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import torch

from benchmarks.machine import machine_info, machine_name
from srlm.core.io import read_json, write_json
from srlm.core.paths import RunPaths

ROOT = Path(__file__).resolve().parent.parent  # the parts run from here (`python -m benchmarks.run`)
RESULTS_DIR = ROOT / "benchmarks" / "results"
ZERO3 = "launcher.accelerate_config=${srlm_root:}/conf/accelerate/zero3.yaml"
EAGER = "generation.enforce_eager=true"
TAIL = 3000  # characters of a part's output kept in the results


@dataclass(frozen=True)
class Part:
    name: str
    overrides: tuple[str, ...]  # an srlm run's overrides; empty for the benchmark
    timeout_s: int


PARTS = (
    Part(
        "smoke_vllm_bf16",
        ("recipe=smoke", "num_iterations=1", "model.dtype=bfloat16", "generation.backend=vllm", EAGER),
        120,
    ),
    Part(
        "smoke_zero3_one_gpu",
        (
            "recipe=smoke",
            "num_iterations=1",
            "eval.enabled=false",
            "model.dtype=bfloat16",
            "launcher=accelerate",
            "launcher.num_processes=1",
            ZERO3,
        ),
        120,
    ),  # fmt: skip
    Part("default_recipe", ("num_iterations=1", EAGER), 210),
    Part("benchmarks_gpu", (), 120),
)


def command(part: Part, work: Path, dry_run: bool = False) -> list[str]:
    """The process a part runs."""
    if not part.overrides:
        out = work / "benchmarks_gpu.json"
        return [sys.executable, "-m", "benchmarks.run", "--only", "gpu", "--repeats", "1", "--out", str(out)]
    flags = ["--dry-run"] if dry_run else []
    return [sys.executable, "-m", "srlm", "run", *flags, *part.overrides, f"run_dir={work / part.name}", "logger=none"]


def stage_statuses(run_dir: Path) -> dict:
    """`{iteration: {stage: status}}` from a run's manifest, where one was written."""
    manifest = RunPaths(run_dir).manifest
    if not manifest.exists():
        return {}
    iterations = read_json(manifest)["iterations"]
    return {t: {stage: entry.get("status") for stage, entry in stages.items()} for t, stages in iterations.items()}


def run_part(part: Part, work: Path) -> dict:
    """Run one part; its exit status, time, end of output, and what it produced."""
    cmd = command(part, work)
    print(f"[gpu-check] {part.name} (at most {part.timeout_s} s): {' '.join(cmd)}", flush=True)
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=part.timeout_s, cwd=ROOT)
        rc, output, timed_out = proc.returncode, proc.stdout + proc.stderr, False
    except subprocess.TimeoutExpired as e:
        rc, timed_out = None, True
        output = "".join(
            x.decode(errors="replace") if isinstance(x, bytes) else (x or "") for x in (e.stdout, e.stderr)
        )
    result = {
        "command": cmd,
        "ok": rc == 0,
        "returncode": rc,
        "timed_out": timed_out,
        "wall_s": round(time.perf_counter() - start, 1),
        "output_tail": output[-TAIL:],
    }
    if part.overrides:
        run_dir = work / part.name
        result["stages"] = stage_statuses(run_dir)
        eval_json = RunPaths(run_dir).iteration(1).eval_json
        if eval_json.exists():
            result["eval_iteration_1"] = read_json(eval_json)
    else:
        out = Path(cmd[-1])
        result["gpu"] = read_json(out).get("gpu") if out.exists() else None
    print(f"[gpu-check] {part.name}: {'ok' if result['ok'] else 'FAILED'} in {result['wall_s']} s", flush=True)
    return result


def dry_run(work: Path) -> int:
    """Compose every srlm part and print its stages' launch commands; the exit status of the first that fails."""
    for part in PARTS:
        cmd = command(part, work, dry_run=True)
        print(f"[gpu-check] {part.name}: {' '.join(cmd)}", flush=True)
        if part.overrides:
            proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
            print(proc.stdout + proc.stderr, flush=True)
            if proc.returncode:
                return proc.returncode
    return 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gpu_check", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--out", type=Path, help="results (default benchmarks/results/<date>-gpu-check-<machine>.json)"
    )
    parser.add_argument("--work", type=Path, help="directory for the parts' runs (default: a temporary one)")
    parser.add_argument("--dry-run", action="store_true", help="compose every part and print its commands")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="srlm-gpu-check-") as tmp:
        work = (args.work or Path(tmp)).resolve()
        if args.dry_run:
            return dry_run(work)
        if not torch.cuda.is_available():
            print("error: no CUDA device visible: the GPU check runs on a GPU machine (--dry-run shows its parts)")
            return 2
        out = args.out or RESULTS_DIR / f"{date.today().isoformat()}-gpu-check-{machine_name()}.json"
        results = {"check": "gpu", "date": date.today().isoformat(), "machine": machine_info(), "parts": {}}
        start = time.perf_counter()
        for part in PARTS:
            results["parts"][part.name] = run_part(part, work)
            results["wall_s"] = round(time.perf_counter() - start, 1)
            write_json(out, results)
    failed = [name for name, r in results["parts"].items() if not r["ok"]]
    print(f"[gpu-check] {len(PARTS) - len(failed)} of {len(PARTS)} parts ok; results: {out}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
