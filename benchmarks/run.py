"""Benchmark srlm's stages against plain baselines; write the results as JSON and print a short table.

    python -m benchmarks.run                                   # embedded model, ~2 h on 2 CPU cores
    ./launch.sh bench --only generate,judge --repeats 1        # the same through launch.sh
    python -m benchmarks.run --only engines --repeats 1        # HF vs vLLM engines alone, ~30 min
    python -m benchmarks.run --model tiny-random --quick --repeats 1 --out /tmp/r.json   # seconds

Sections: generate (batched vs one-at-a-time sampling), judge (sampled vs expected-score judging),
scaling (generate + judge vs prompts and N), dpo (srlm's stage vs bare TRL, s/step), iteration (one
iteration of the recipe by stage), gpu (HF vs vLLM, DPO memory; CUDA only), engines (srlm's HF vs vLLM
engine at the recipe's sizes and 4x the prompts, where vLLM runs; with a matmul roofline), chunking (vLLM fed 8
prompts per call vs whole chunks, at the recipe's sizes and 4x). Every figure is the median
of `--repeats` runs with min, max and the runs; ratios are taken within a run. Results go to
`benchmarks/results/<date>-<machine>.json` unless `--out` says otherwise, rewritten after every section.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import torch

from benchmarks import chunking, dpo, engines, generate, gpu, iteration, judge, scaling
from benchmarks.common import Bench
from benchmarks.machine import machine_info, machine_name
from benchmarks.provenance import command_line, git_commit
from benchmarks.report import table, targets
from srlm.core.errors import SrlmError
from srlm.core.io import write_json
from srlm.models.checkpoints import EMBEDDED

SECTIONS = ("generate", "judge", "scaling", "dpo", "iteration", "gpu", "engines", "chunking")
RESULTS_DIR = Path(__file__).resolve().parent / "results"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=EMBEDDED, help=f"model config group name (conf/model/), default {EMBEDDED}")
    parser.add_argument("--repeats", type=int, default=3, help="runs per figure (median, min, max reported)")
    parser.add_argument("--iteration-repeats", type=int, default=1, help="iteration runs (~7 min each on 2 CPU cores)")
    parser.add_argument("--out", type=Path, help="results file (default benchmarks/results/<date>-<machine>.json)")
    parser.add_argument("--only", help=f"comma-separated sections to run, of: {','.join(SECTIONS)}")
    parser.add_argument("--quick", action="store_true", help="smallest sizes everywhere (a smoke run)")
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    args.sections = SECTIONS if not args.only else tuple(s.strip() for s in args.only.split(",") if s.strip())
    unknown = [s for s in args.sections if s not in SECTIONS]
    if unknown:
        parser.error(f"unknown section(s) {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    if args.repeats < 1 or args.iteration_repeats < 1:
        parser.error("--repeats and --iteration-repeats must be at least 1")
    return args


def run_section(name: str, bench: Bench, results: dict, args: argparse.Namespace) -> dict:
    """Run one section; sections that load their own models get the shared one freed first."""
    if name in ("dpo", "iteration", "engines", "chunking"):
        bench.release_model()
    if name == "iteration":
        return iteration.run(bench, args.iteration_repeats)
    if name in ("gpu", "engines", "chunking"):
        return {"gpu": gpu, "engines": engines, "chunking": chunking}[name].run(bench, results)
    return {"generate": generate, "judge": judge, "scaling": scaling, "dpo": dpo}[name].run(bench)


def header(bench: Bench, args: argparse.Namespace) -> dict:
    return {
        "benchmark": "srlm",
        "command": command_line("benchmarks.run", args.argv),
        "srlm": git_commit(),
        "date": date.today().isoformat(),
        "machine": machine_info(),
        "model": bench.model,
        "model_path": bench.model_dir(),
        "recipe": bench.recipe,
        "options": {
            "repeats": bench.repeats,
            "iteration_repeats": args.iteration_repeats,
            "quick": bench.quick,
            "sections": list(args.sections),
            "seed": bench.seed,
        },
        "duration_s": {},
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    out = args.out or RESULTS_DIR / f"{date.today().isoformat()}-{machine_name()}.json"
    start = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory(prefix="srlm-bench-") as work:
            bench = Bench(model=args.model, repeats=args.repeats, quick=args.quick, workdir=Path(work))
            random.seed(bench.seed)
            torch.manual_seed(bench.seed)
            results = header(bench, args)
            for name in args.sections:
                print(f"[bench] == {name} ==", flush=True)
                t0 = time.perf_counter()
                results[name] = run_section(name, bench, results, args)
                results["duration_s"][name] = round(time.perf_counter() - t0, 1)
                write_json(out, results)
    except SrlmError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    results["duration_s"]["total"] = round(time.perf_counter() - start, 1)
    results["targets"] = targets(results)
    write_json(out, results)
    print(table(results))
    print(f"[bench] results: {out}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
