"""Stages: each module has one public `run(cfg, paths) -> metrics` and a `python -m` entry.

`python -m srlm.stages.<name> RUN_DIR ITERATION` runs one stage of a run by hand (or as the
driver's subprocess / distributed launch); it reads the run's saved config and writes its metrics
to `iteration_<t>/.<name>.metrics.json` for the driver.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from srlm.core.errors import SrlmError
from srlm.core.io import write_json
from srlm.core.paths import IterationPaths, RunPaths
from srlm.core.seeds import derive_seed, stage_seed  # noqa: F401 - the stages name it here
from srlm.models.resolve import model_path

STAGE_MODULES = {
    "eft": "srlm.stages.eft",
    "sft_baseline": "srlm.stages.sft_baseline",
    "sft": "srlm.stages.sft",
    "prompts": "srlm.stages.prompts",
    "generate": "srlm.stages.generate",
    "judge": "srlm.stages.judge",
    "meta_judge": "srlm.stages.meta_judge",
    "pairs": "srlm.stages.pairs",
    "dpo": "srlm.stages.dpo",
    "eval": "srlm.stages.eval",
}


def current_model(cfg, paths: IterationPaths) -> str:
    """M_t: the model this iteration starts from (the base model at iteration 0)."""
    if paths.t == 0:
        return model_path(cfg)
    previous = paths.previous.model
    if not (previous / "config.json").exists():
        raise SrlmError(f"{previous}: model of iteration {paths.t - 1} is missing; run that iteration first")
    return str(previous)


def seed_model(cfg, paths: IterationPaths) -> str:
    """M_1, the model the seed SFT produced."""
    return str(paths.run.iteration(0).model)


def metrics_file(paths: IterationPaths, stage: str) -> Path:
    return paths.dir / f".{stage}.metrics.json"


def run_stage(stage: str, cfg, paths: IterationPaths) -> dict:
    module = importlib.import_module(STAGE_MODULES[stage])
    return module.run(cfg, paths)


def main(stage: str, argv: list[str] | None = None) -> int:
    """Entry of `python -m srlm.stages.<stage> RUN_DIR ITERATION`."""
    from srlm.config.run_config import load_run_config
    from srlm.core.distributed import finish, is_rank_zero, rank, world_size

    parser = argparse.ArgumentParser(prog=f"python -m srlm.stages.{stage}")
    parser.add_argument("run_dir")
    parser.add_argument("iteration", type=int)
    args = parser.parse_args(argv)
    try:
        cfg = load_run_config(Path(args.run_dir))
        paths = RunPaths(Path(args.run_dir)).iteration(args.iteration)
        metrics = run_stage(stage, cfg, paths)
    except SrlmError as e:
        where = f" (rank {rank()} of {world_size()})" if world_size() > 1 else ""
        print(f"error{where}: {e}", file=sys.stderr)
        return finish(2)
    if is_rank_zero():
        write_json(metrics_file(paths, stage), metrics)
    return finish(0)
