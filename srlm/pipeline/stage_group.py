"""Stages that run back to back on one engine, in one process: `python -m srlm.pipeline.stage_group RUN_DIR T
STAGE...` (the driver launches it for generate, judge and meta-judge on M_t; see `launch.engine_group`).

Each stage is recorded as if it had run alone: the files it wrote (`.<stage>.written.json`) and then its
metrics (`.<stage>.metrics.json`), so a group stopped half way keeps the stages it finished.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from srlm.config.run_config import load_run_config
from srlm.core.distributed import finish, is_rank_zero
from srlm.core.errors import SrlmError
from srlm.core.io import write_json
from srlm.core.paths import IterationPaths, RunPaths
from srlm.inference.engines import engine_pool
from srlm.pipeline import outputs
from srlm.stages import metrics_file, run_stage


def written_file(paths: IterationPaths, stage: str) -> Path:
    return paths.dir / f".{stage}.written.json"


def run_group(cfg, paths: IterationPaths, stages: list[str]) -> None:
    with engine_pool():
        for stage in stages:
            print(f"[srlm] iteration {paths.t}: {stage} (in this group's process)", flush=True)
            before, start = outputs.snapshot(paths.run.root), time.time()
            metrics = {**run_stage(stage, cfg, paths), "wall_s": round(time.time() - start, 2)}
            if is_rank_zero():
                write_json(written_file(paths, stage), outputs.written_since(before, paths.run.root))
                write_json(metrics_file(paths, stage), metrics)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m srlm.pipeline.stage_group")
    parser.add_argument("run_dir")
    parser.add_argument("iteration", type=int)
    parser.add_argument("stages", nargs="+")
    args = parser.parse_args(argv)
    try:
        cfg = load_run_config(Path(args.run_dir))
        run_group(cfg, RunPaths(Path(args.run_dir)).iteration(args.iteration), args.stages)
    except SrlmError as e:
        print(f"error: {e}", file=sys.stderr)
        return finish(2)
    return finish(0)


if __name__ == "__main__":
    raise SystemExit(main())
