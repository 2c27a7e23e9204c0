"""The driver: runs iteration 0 (EFT, SFT) then `num_iterations` rounds of the loop, resuming a stopped run.

It holds no model. For each stage not yet recorded as done in `manifest.json` it launches the
stage as the config says, records it, and logs its metrics.
"""

from __future__ import annotations

import time

from omegaconf import OmegaConf

from srlm import disk, outputs
from srlm.config import changed_keys, config_hash, enum_value, to_container
from srlm.engine.vllm import check_vllm_available
from srlm.errors import SrlmError
from srlm.io import atomic_write_text, read_jsonl
from srlm.launch import ENGINE_KEYS, StagePlan, launch, stage_plan, uses_vllm
from srlm.manifest import Manifest
from srlm.paths import RunPaths, stages_of
from srlm.preflight import check_inputs
from srlm.run_lock import RunLock
from srlm.tracking import (
    TRAINING_STAGES,
    MetricsLogger,
    eval_answer_rows,
    read_step_events,
    stage_steps_file,
    train_step_offset,
)

IGNORED_ON_RESUME = ("resume", "launcher", "logger", "run_dir")  # run_dir: a run directory copied elsewhere resumes
HEADLINE = {
    "eft": "eft",
    "sft_baseline": "loss",
    "sft": "loss",
    "prompts": "prompts",
    "generate": "candidates",
    "judge": "parse_rate",
    "meta_judge": "position_a_rate",
    "pairs": "pairs",
    "dpo": "rewards_accuracies",
    "eval": "win_rate_vs_previous",
}


def sample_rows(ipaths, n: int) -> list[dict]:
    """A few pairs of the iteration with their prompt, both candidates, scores and one judge verdict each."""
    verdicts: dict[str, str] = {}
    for r in read_jsonl(ipaths.judgments):
        verdicts.setdefault(r["candidate_id"], r["raw"])
    return [
        {
            "prompt": p["prompt"],
            "chosen": p["chosen"],
            "chosen_score": p["chosen_score"],
            "chosen_verdict": verdicts.get(p["chosen_id"], ""),
            "rejected": p["rejected"],
            "rejected_score": p["rejected_score"],
            "rejected_verdict": verdicts.get(p["rejected_id"], ""),
        }
        for p in read_jsonl(ipaths.pairs)[:n]
    ]


def changed_since_start(cfg, paths: RunPaths) -> list[str]:
    """Config keys that differ from the run directory's `config.yaml` (none for a new run)."""
    if not paths.config.exists():
        return []
    old = OmegaConf.to_container(OmegaConf.load(paths.config))
    return [k for k in changed_keys(old, to_container(cfg)) if k.split(".")[0] not in IGNORED_ON_RESUME]


def prepare_run_dir(cfg) -> tuple[RunPaths, Manifest]:
    """Create the run directory or check that a resumed run has the same config."""
    paths = RunPaths(cfg.run_dir)
    new = to_container(cfg)
    changed = changed_since_start(cfg, paths)
    if paths.config.exists():
        if changed and not cfg.resume.allow_config_change:
            raise SrlmError(
                f"{paths.config}: the run exists with a different config; changed keys: {', '.join(changed)}. "
                "Use the same overrides to resume, a new run_dir, or resume.allow_config_change=true "
                "(the change then applies from the next stage on)."
            )
    paths.root.mkdir(parents=True, exist_ok=True)
    text = OmegaConf.to_yaml(OmegaConf.create(new))
    if not paths.config.exists() or paths.config.read_text(encoding="utf-8") != text:
        atomic_write_text(paths.config, text)  # unchanged: not rewritten (a finished run on read-only storage)
    manifest = Manifest.load_or_create(paths.manifest, config_hash(cfg))
    if changed:
        manifest.data.setdefault("config_changes", []).append({"time": time.time(), "keys": changed})
        manifest.data["config_hash"] = config_hash(cfg)
        manifest.save()
    return paths, manifest


def sft_baseline_first(cfg) -> bool:
    return bool(cfg.eft.enabled) and enum_value(cfg.eft.verdict_source) == "sft_baseline"


def planned_stages(cfg):
    for t in range(cfg.num_iterations + 1):
        for stage in stages_of(t, sft_baseline_first(cfg), cfg.meta.enabled):
            if stage == "eval" and not cfg.eval.enabled:
                continue
            yield t, stage


def plan(cfg) -> list[StagePlan]:
    """Every stage of the run as `run` would launch it, without running anything."""
    paths = RunPaths(cfg.run_dir)
    return [stage_plan(stage, cfg, paths.iteration(t)) for t, stage in planned_stages(cfg)]


def dry_run(cfg) -> list[str]:
    """Every stage's launch command and where its model lives, one line each; missing inputs are an error."""
    check_inputs(cfg)
    return [p.describe() for p in plan(cfg)]


def stage_problems(paths: RunPaths, manifest: Manifest, t: int, stage: str) -> list[str]:
    """What is missing or changed among a finished stage's recorded outputs."""
    return outputs.problems(paths.root, manifest.stage(t, stage).get("outputs", {}))


def is_finished(cfg) -> bool:
    """Every planned stage done with its outputs as it left them, under the same config: nothing to do."""
    paths = RunPaths(cfg.run_dir)
    if not paths.manifest.is_file() or changed_since_start(cfg, paths):
        return False
    manifest = Manifest.load(paths.manifest)
    planned = list(planned_stages(cfg))
    return all(manifest.is_done(t, stage) and not stage_problems(paths, manifest, t, stage) for t, stage in planned)


def run(cfg) -> RunPaths:
    check_inputs(cfg)
    if is_finished(cfg):  # writes nothing, so a finished run on read-only storage can be started again
        print(f"[srlm] {cfg.run_dir}: every stage is done; nothing to do (srlm status / srlm report to read it)")
        return RunPaths(cfg.run_dir)
    for stage, key in ENGINE_KEYS.items():
        if uses_vllm(stage, cfg):
            check_vllm_available(key)  # before any work, not hours later at the first generate stage
    lock = RunLock(RunPaths(cfg.run_dir).root).acquire()  # before anything in the run directory is touched
    try:
        return drive(cfg, *prepare_run_dir(cfg))
    finally:
        lock.release()


def drive(cfg, paths: RunPaths, manifest: Manifest) -> RunPaths:
    """Run every planned stage not yet done, in order, recording each in the manifest."""
    logger = MetricsLogger(paths.metrics, cfg, manifest, to_container(cfg))
    inputs_redone = False  # an earlier stage was redone and wrote other outputs than the later stages read
    try:
        for t, stage in planned_stages(cfg):
            previous = None
            if manifest.is_done(t, stage):
                changed = stage_problems(paths, manifest, t, stage)
                if not changed and not inputs_redone:
                    if stage in TRAINING_STAGES:  # a driver stopped between recording and pruning
                        disk.prune_checkpoints(paths.iteration(t), stage, cfg.disk.keep_checkpoints)
                    continue
                previous = manifest.stage(t, stage).get("outputs", {})
                why = ", ".join(changed) or "an earlier stage was redone with other outputs"
                kept = outputs.set_aside(paths.root, list(previous), f"iteration_{t}-{stage}")
                disk.cap_set_aside(paths.root, cfg.disk.max_set_aside)
                print(f"[srlm] iteration {t}: {stage} is redone: {why}" + (f" (old files: {kept})" if kept else ""))
            ipaths = paths.iteration(t)
            ipaths.dir.mkdir(parents=True, exist_ok=True)
            print(f"[srlm] iteration {t}: {stage}", flush=True)
            manifest.set_stage(t, stage, "running")
            start = time.time()
            before = outputs.snapshot(paths.root)
            try:
                metrics = launch(stage, cfg, ipaths)
            except BaseException as e:
                manifest.set_stage(t, stage, "failed", error=str(e).splitlines()[0] if str(e) else type(e).__name__)
                raise
            metrics["wall_s"] = round(time.time() - start, 2)
            written = outputs.record(paths.root, outputs.written_since(before, paths.root))
            inputs_redone |= previous is not None and written != previous
            manifest.claim_outputs(t, stage, written)
            manifest.set_stage(t, stage, "done", metrics=metrics)
            logger.log(t, stage, metrics)
            if stage in TRAINING_STAGES:
                disk.prune_checkpoints(ipaths, stage, cfg.disk.keep_checkpoints)
                steps = read_step_events(stage_steps_file(ipaths, stage))
                logger.log_steps(t, stage, steps, train_step_offset(manifest, t, stage))
            if stage == "pairs":
                logger.log_table(t, "pairs", sample_rows(ipaths, cfg.logger.table_rows))
            if stage == "eval" and t > 0:
                logger.log_table(t, "eval_answers", eval_answer_rows(ipaths, cfg.logger.table_rows))
    finally:
        logger.finish()
    return paths
