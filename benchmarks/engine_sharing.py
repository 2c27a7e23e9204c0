"""engine sharing: generate and judge of one iteration on vLLM, each in a process with its own engine (as before
`generation.share_engine`) vs both in one process on one engine (`srlm.pipeline.stage_group`).

A finished smoke run on vLLM gives M_1 and iteration 1's prompts; each repeat copies it, removes iteration 1's
candidates and judgments, and runs the two stages both ways, alternating which goes first, exactly as the driver
launches them. The figure is the wall time of the two stages (process start, engine start-up, the work), and the
ratio separate / shared within each repeat, so load on a shared machine moves both alike. Rows must be equal.

    python -m benchmarks.engine_sharing --repeats 3 --command "..."     # ~10 min on 2 CPU cores
"""

from __future__ import annotations

import argparse
import datetime
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.common import alternating, timed
from benchmarks.machine import machine_info, machine_name
from benchmarks.provenance import git_commit
from srlm.core.io import read_jsonl

BASE = ["recipe=smoke", "num_iterations=1", "eval.enabled=false", "generation.backend=vllm"]
STAGES = ("generate", "judge")
ROWS = ("candidates.jsonl", "judgments.jsonl")


def srlm(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "srlm", *args], check=True, stdout=subprocess.DEVNULL)


def fresh_copy(base: Path, scratch: Path, name: str) -> Path:
    run = scratch / name
    shutil.rmtree(run, ignore_errors=True)
    shutil.copytree(base, run)
    for path in (run / "iteration_1").glob("*"):
        if path.name in ROWS or path.name.startswith("."):
            path.unlink()
    return run


def separate(run: Path) -> None:
    for stage in STAGES:
        subprocess.run([sys.executable, "-m", f"srlm.stages.{stage}", str(run), "1"], check=True)


def shared(run: Path) -> None:
    subprocess.run([sys.executable, "-m", "srlm.pipeline.stage_group", str(run), "1", *STAGES], check=True)


def repeat(base: Path, scratch: Path, r: int) -> dict:
    def measure(how):
        run = fresh_copy(base, scratch, how.__name__)
        _, seconds = timed(how, run)
        return seconds, [read_jsonl(run / "iteration_1" / name) for name in ROWS]

    (sep_s, sep_rows), (shared_s, shared_rows) = alternating(r, lambda: measure(separate), lambda: measure(shared))
    if sep_rows != shared_rows:
        raise SystemExit("engine sharing: the rows differ between separate and shared engines")
    return {"separate_s": round(sep_s, 2), "shared_s": round(shared_s, 2), "ratio": round(sep_s / shared_s, 3)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.engine_sharing")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--command", required=True, help="the command line, kept in the results")
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument("overrides", nargs="*", help="srlm overrides on top of the smoke recipe on vLLM")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        base = scratch / "base"
        srlm("run", *BASE, *args.overrides, f"run_dir={base}")
        runs = []
        for r in range(args.repeats):
            runs.append(repeat(base, scratch, r))
            print(f"[bench] engine sharing, repeat {r + 1}: {runs[-1]}", flush=True)
    ratios = [run["ratio"] for run in runs]
    result = {
        "benchmark": "engine_sharing",
        "command": args.command,
        "srlm": git_commit(),
        "date": datetime.date.today().isoformat(),
        "machine": machine_info(),
        "config": [*BASE, *args.overrides],
        "stages": list(STAGES),
        "repeats": runs,
        "ratio_median": statistics.median(ratios),
        "ratio_range": [min(ratios), max(ratios)],
        "notes": "wall time of generate + judge of iteration 1 (processes, engine start-up, work); ratio = "
        "separate / shared within a repeat, order alternating; rows equal both ways",
    }
    out = Path(args.out) / f"{result['date']}-engine-sharing-{machine_name()}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"[bench] engine sharing: separate / shared = {result['ratio_median']} (median), {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
