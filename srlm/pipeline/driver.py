"""The driver: runs iteration 0 (EFT, SFT) then `num_iterations` rounds of the loop, resuming a stopped run.

It holds no model. For each stage not yet recorded as done in `manifest.json` it launches the
stage as the config says, records it, and logs its metrics.
"""

from __future__ import annotations

import errno
import shutil
import time
from pathlib import Path

from omegaconf import OmegaConf

from srlm.config.run_config import changed_keys, config_hash, enum_value, to_container
from srlm.core.errors import SrlmError
from srlm.core.io import atomic_write_text, read_jsonl
from srlm.core.paths import RunPaths, stages_of
from srlm.inference.engines.vllm import check_vllm_available
from srlm.pipeline import disk, outputs, ray_replicas
from srlm.pipeline.launch import ENGINE_KEYS, Launches, StagePlan, on_ray, stage_plan, uses_vllm
from srlm.pipeline.manifest import Manifest
from srlm.pipeline.preflight import check_inputs
from srlm.pipeline.run_lock import RunLock
from srlm.reporting.tracking import (
    TRAINING_STAGES,
    MetricsLogger,
    eval_answer_rows,
    read_step_events,
    stage_steps_file,
    train_step_offset,
)

FULL_BELOW = 2**20  # bytes free under which a failed stage's disk counts as full
IGNORED_ON_RESUME = ("resume", "launcher", "logger", "run_dir", "disk")  # run_dir: a copied run directory resumes
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
                "(the change then applies from the interrupted stage on, which starts over)."
            )
    paths.root.mkdir(parents=True, exist_ok=True)
    text = OmegaConf.to_yaml(OmegaConf.create(new))
    if not paths.config.exists() or paths.config.read_text(encoding="utf-8") != text:
        atomic_write_text(paths.config, text)  # unchanged: not rewritten (a finished run on read-only storage)
    manifest = Manifest.load_or_create(paths.manifest, config_hash(cfg))
    if changed:
        restarted = restart_interrupted(paths, manifest)
        manifest.data.setdefault("config_changes", []).append(
            {"time": time.time(), "keys": changed, "restarted": restarted}
        )
        manifest.data["config_hash"] = config_hash(cfg)
        manifest.save()
    return paths, manifest


def restart_interrupted(paths: RunPaths, manifest: Manifest) -> list[str]:
    """Under a changed config an interrupted stage starts over: its rows so far (`*.partial`) and trainer
    checkpoints, made under the old config, are set aside rather than resumed and mixed with new ones.
    Returns `iteration_<t>/<stage>` of each such stage."""
    restarted = []
    for t, stages in manifest.data["iterations"].items():
        for stage, entry in stages.items():
            if entry.get("status") not in ("running", "failed"):
                continue
            ipaths = paths.iteration(int(t))
            working = [p for p in ipaths.dir.rglob("*.partial") if p.is_file()]
            checkpoints = {"sft": ipaths.checkpoints, "dpo": ipaths.checkpoints}
            checkpoints["sft_baseline"] = ipaths.baseline_dir / "checkpoints"
            if stage in checkpoints:
                working += [p for p in checkpoints[stage].rglob("*") if p.is_file()]
            rels = [p.relative_to(paths.root).as_posix() for p in working]
            kept = outputs.set_aside(paths.root, rels, f"iteration_{t}-{stage}-old-config")
            restarted.append(f"iteration_{t}/{stage}")
            where = f" (its rows and checkpoints so far: {kept})" if kept else ""
            print(f"[srlm] iteration {t}: {stage} was interrupted under the old config; it starts over{where}")
    return restarted


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
    planned = list(planned_stages(cfg))
    return [stage_plan(stage, cfg, paths.iteration(t), iteration_stages(planned, t)) for t, stage in planned]


def iteration_stages(planned: list[tuple[int, str]], t: int) -> list[str]:
    return [stage for tt, stage in planned if tt == t]


def pending_from(planned: list[tuple[int, str]], manifest: Manifest, t: int, stage: str) -> list[str]:
    """`stage` and the stages right after it in iteration `t` up to the first one already done."""
    following = iteration_stages(planned, t)
    following = following[following.index(stage) :]
    ends = next((i for i, s in enumerate(following) if i > 0 and manifest.is_done(t, s)), len(following))
    return following[:ends]


def dry_run(cfg) -> list[str]:
    """Every stage's launch command and where its model lives, one line each; missing inputs are an error."""
    check_inputs(cfg, planning=True)  # a dry run downloads no data set
    refuse_outputs_without_manifest(RunPaths(cfg.run_dir))
    return [p.describe() for p in plan(cfg)]


def refuse_outputs_without_manifest(paths: RunPaths) -> None:
    """A run directory with stage outputs but no `manifest.json` (deleted, or copied without it): which stages are
    done is unknown, and starting over would overwrite them in place."""
    if paths.manifest.exists() or not paths.root.is_dir():
        return
    held = sorted({p.relative_to(paths.root).parts[0] for p in paths.root.glob("iteration_*/**/*") if p.is_file()})
    if held:
        raise SrlmError(
            f"{paths.manifest}: no such file, but {paths.root} holds a run's outputs ({', '.join(held)}); the "
            "manifest records which stages are done: restore it to resume, or use another run_dir to start over"
        )


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
    refuse_outputs_without_manifest(RunPaths(cfg.run_dir))
    if is_finished(cfg):  # writes nothing, so a finished run on read-only storage can be started again
        print(f"[srlm] {cfg.run_dir}: every stage is done; nothing to do (srlm status / srlm report to read it)")
        return RunPaths(cfg.run_dir)
    for stage, key in ENGINE_KEYS.items():
        if uses_vllm(stage, cfg):
            check_vllm_available(key)  # before any work, not hours later at the first generate stage
    if any(on_ray(stage, cfg) for stage in ENGINE_KEYS):
        found = ray_replicas.cluster_problems(cfg)
        if found:
            raise SrlmError("launcher.inference_launcher=ray: " + "; ".join(found))
    root = RunPaths(cfg.run_dir).root
    try:
        lock = RunLock(root).acquire()  # before anything in the run directory is touched
        try:
            return drive(cfg, *prepare_run_dir(cfg))
        finally:
            lock.release()
    except OSError as e:  # the driver's own files (lock, config, manifest, metrics) on a full disk
        full = disk_full(e, root)
        if full:
            raise no_space_left(full, "the driver's files") from None
        raise


def disk_full(error: BaseException, where: Path) -> Path | None:
    """The path that could not be written if `error` (or an error it came from) is a full disk, else None.

    Libraries say it in their own ways (OSError ENOSPC; safetensors: "No space left on device (os error 28)"); a
    stage in another process only exits non-zero, so a disk with less than `FULL_BELOW` bytes free counts too."""
    if not isinstance(error, Exception):  # Ctrl-C, SystemExit: not the disk
        return None
    seen = error
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno == errno.ENOSPC:
            return Path(seen.filename) if seen.filename else where
        if "No space left on device" in str(seen):
            return where
        seen = seen.__cause__ or seen.__context__
    try:
        return where if shutil.disk_usage(where).free < FULL_BELOW else None
    except OSError:
        return None


def no_space_left(path: Path, doing: str) -> SrlmError:
    return SrlmError(
        f"{path}: no space left on device ({doing}); free some space, then run the same command again: finished "
        "stages are kept and this one resumes"
    )


def drive(cfg, paths: RunPaths, manifest: Manifest) -> RunPaths:
    """Run every planned stage not yet done, in order, recording each in the manifest."""
    logger = MetricsLogger(paths.metrics, cfg, manifest, to_container(cfg))
    inputs_redone = False  # an earlier stage was redone and wrote other outputs than the later stages read
    launches = Launches(cfg)
    planned = list(planned_stages(cfg))
    try:
        for t, stage in planned:
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
                metrics, written_files = launches.launch(stage, ipaths, pending_from(planned, manifest, t, stage))
            except BaseException as e:
                full = disk_full(e, ipaths.dir)
                why = str(e).splitlines()[0] if str(e) else type(e).__name__
                try:
                    manifest.set_stage(t, stage, "failed", error=why)
                except OSError:  # the disk is full: the manifest keeps `running`, which resumes the same way
                    if not full:
                        raise
                if full:
                    raise no_space_left(full, f"iteration {t}: {stage}") from None
                raise
            metrics.setdefault("wall_s", round(time.time() - start, 2))  # a group's process times each stage
            if written_files is None:
                written_files = outputs.written_since(before, paths.root)
            written = outputs.record(paths.root, written_files)
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
