"""iteration: wall time of one full loop iteration of the recipe, by stage, read from the run's manifest.

The driver runs the recipe on a fresh run directory with `num_iterations=1` and the seed SFT shortened
to one step (`sft.max_steps=1`), so that iteration 0 takes a minute or two; what is measured is
iteration 1 (prompts -> generate -> judge -> pairs -> dpo -> eval) from that M_1, each stage's time as
the driver recorded it in `manifest.json`; `wall_s` is their sum (the driver's bookkeeping between stages
is left out).

A seed model trained for one step writes almost no parseable `Score: N` line, so sampled judging can
leave no pair to train on. The run then resumes with `judge.mode=expected_score`: the pairs are built
from the expected-score rows the judge stage also wrote (`judge.compare_modes`), the judge stage's
time stays that of sampled judging, and the JSON says so.
"""

from __future__ import annotations

import time
from datetime import datetime

from benchmarks.common import Bench, summarize
from srlm.config.compose import compose
from srlm.config.run_config import enum_value
from srlm.core.errors import SrlmError
from srlm.core.paths import LOOP_STAGES, SEED_STAGES, RunPaths
from srlm.pipeline.driver import run as run_driver
from srlm.pipeline.manifest import Manifest

SFT_STEPS = 1


def overrides(bench: Bench, run_dir) -> list[str]:
    return bench.overrides(
        f"run_dir={run_dir}", "num_iterations=1", f"sft.max_steps={SFT_STEPS}", *bench.sizes.iteration_overrides
    )


def stage_seconds(entry: dict) -> float:
    """A done stage's time: the driver's `wall_s`, else the difference of its timestamps (1 s resolution)."""
    wall = entry.get("metrics", {}).get("wall_s")
    if wall is not None:
        return float(wall)
    fmt = "%Y-%m-%dT%H:%M:%S"
    return (datetime.strptime(entry["finished"], fmt) - datetime.strptime(entry["started"], fmt)).total_seconds()


def stage_times(manifest: Manifest, t: int, stages: tuple[str, ...]) -> dict[str, float]:
    return {s: round(stage_seconds(manifest.stage(t, s)), 2) for s in stages if manifest.is_done(t, s)}


def pairs_failed_for_lack_of_scores(cfg, manifest: Manifest) -> bool:
    """The pairs stage failed after sampled judging that also wrote expected-score rows."""
    return (
        manifest.stage(1, "pairs").get("status") == "failed"
        and enum_value(cfg.judge.mode) == "sampled"
        and bool(cfg.judge.compare_modes)
    )


def run_once(bench: Bench) -> dict:
    """Run the driver on a fresh run directory; the times of iteration 1's stages and what else happened."""
    root = bench.scratch("iteration")
    args = overrides(bench, root)
    cfg = compose(args)
    fallback = False
    start = time.perf_counter()
    try:
        run_driver(cfg)
    except SrlmError:
        if not pairs_failed_for_lack_of_scores(cfg, Manifest.load(RunPaths(root).manifest)):
            raise
        fallback = True
        print("[bench] iteration: no pair from sampled verdicts; pairs from the expected scores", flush=True)
        args += ["judge.mode=expected_score", "resume.allow_config_change=true"]
        run_driver(compose(args))
    driver_s = time.perf_counter() - start
    manifest = Manifest.load(RunPaths(root).manifest)
    judge_metrics = manifest.stage(1, "judge").get("metrics", {})
    return {
        "stages": stage_times(manifest, 1, LOOP_STAGES),
        "seed_stages": stage_times(manifest, 0, SEED_STAGES),
        "driver_s": driver_s,
        "judge_parse_rate": judge_metrics.get("parse_rate"),
        "pairs": manifest.stage(1, "pairs").get("metrics", {}).get("pairs"),
        "pairs_fallback": fallback,
        "overrides": [a for a in args if not a.startswith("run_dir=")],
    }


def run(bench: Bench, repeats: int = 1) -> dict:
    runs = []
    for r in range(repeats):
        print(f"[bench] iteration: run {r + 1}/{repeats} (driver, recipe {bench.recipe})", flush=True)
        runs.append(run_once(bench))
    walls = [sum(r["stages"].values()) for r in runs]
    stages = {s: summarize([r["stages"][s] for r in runs]) for s in LOOP_STAGES if s in runs[0]["stages"]}
    last = runs[-1]
    out = {
        "recipe": bench.recipe,
        "overrides": last["overrides"],
        "seed_sft": f"shortened to sft.max_steps={SFT_STEPS}; the times of iteration 1's stages are what is measured",
        "runs": repeats,
        "single_run": repeats == 1,
        "wall_s": summarize(walls)["median"],
        "wall_s_stats": summarize(walls),
        "stages": {s: v["median"] for s, v in stages.items()},
        "stages_stats": stages,
        "seed_stages": last["seed_stages"],
        "driver_wall_s": round(last["driver_s"], 2),
        "judge_parse_rate": last["judge_parse_rate"],
        "pairs": last["pairs"],
    }
    fallbacks = sum(r["pairs_fallback"] for r in runs)
    if fallbacks:
        out["pairs_fallback"] = (
            f"in {fallbacks} of {repeats} run(s) the sampled verdicts (parse rate {last['judge_parse_rate']}) gave "
            "no pair after the shortened seed SFT; the pairs stage was then re-run with judge.mode=expected_score, "
            "on the expected-score rows the judge stage also wrote (judge.compare_modes); the judge time is that of "
            "sampled judging"
        )
    return out
