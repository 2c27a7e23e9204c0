"""How a stage is launched: in this process, as a subprocess, or under torchrun / accelerate."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import torch
from omegaconf import OmegaConf

from srlm.config import enum_value
from srlm.errors import SrlmError
from srlm.io import read_json
from srlm.models import resolve_dtype
from srlm.stages import metrics_file, run_stage

TRAINING_STAGES = ("sft", "dpo")
ENGINE_KEYS = {  # stages that run a model for inference, and the key naming their engine
    "eft": "eft.backend",
    "prompts": "prompts.backend",
    "generate": "generation.backend",
    "judge": "judge.backend",
    "eval": "eval.backend",
}
SHARDED_STAGES = ("eft", "generate", "judge", "eval")  # rows split over ranks; self-instruct is sequential


def stage_backend(stage: str, cfg) -> str | None:
    """The engine backend of an inference stage (None for the others)."""
    return OmegaConf.select(cfg, ENGINE_KEYS[stage]) if stage in ENGINE_KEYS else None


def runs_model(stage: str, cfg) -> bool:
    """Whether the stage runs a model for inference (EFT only with model verdicts, prompts only self-instructed)."""
    if stage == "eft":
        return bool(cfg.eft.enabled) and enum_value(cfg.eft.verdict_source) in ("model", "teacher")
    if stage == "prompts":
        return enum_value(cfg.prompts.source) == "self_instruct"
    return stage in ENGINE_KEYS


def uses_vllm(stage: str, cfg) -> bool:
    return runs_model(stage, cfg) and stage_backend(stage, cfg) == "vllm"


def vllm_replicas(cfg) -> int:
    """Data-parallel vLLM engines: the generation processes (GPUs per machine) over the tensor-parallel size."""
    lc = cfg.launcher
    return max(1, (lc.generation_processes or lc.num_processes) // cfg.generation.tensor_parallel_size)


def stage_launcher(stage: str, cfg) -> tuple[str, int]:
    """(launcher kind, processes per machine) of `stage`.

    Training stages use `launcher.kind`. Inference stages with the HF backend use the generation
    launcher, rows sharded over its ranks. With vLLM a stage always runs in processes of its own, so
    its engine's memory is gone before any training stage starts: one engine split over
    `tensor_parallel_size` devices, and one replica (a torchrun rank) per further group of devices.
    Self-instruct (each round feeds the next) and model-free stages run as one process.
    """
    lc = cfg.launcher
    kind = enum_value(lc.kind)
    if stage in TRAINING_STAGES:
        return kind, lc.num_processes
    if uses_vllm(stage, cfg):
        replicas = vllm_replicas(cfg) if stage in SHARDED_STAGES else 1
        return ("torchrun" if replicas > 1 else "subprocess"), replicas
    if stage in SHARDED_STAGES and runs_model(stage, cfg):
        return enum_value(lc.generation_kind or lc.kind), lc.generation_processes or lc.num_processes
    return ("inprocess" if kind == "inprocess" else "subprocess"), 1


def _tool(name: str) -> str:
    """A launcher executable from this Python's environment (so an unactivated venv works), else from PATH."""
    local = Path(sys.executable).parent / name
    return str(local) if local.exists() else name


def stage_command(stage: str, cfg, paths) -> list[str] | None:
    """The command line that runs `stage`, or None when it runs in this process."""
    lc = cfg.launcher
    kind, nproc = stage_launcher(stage, cfg)
    machines = lc.num_machines if kind in ("torchrun", "accelerate") and not uses_vllm(stage, cfg) else 1
    entry = ["-m", f"srlm.stages.{stage}", str(paths.run.root), str(paths.t)]
    if kind == "inprocess":
        return None
    if kind == "subprocess" or (nproc * machines == 1 and stage not in TRAINING_STAGES):
        return [sys.executable, *entry]
    if kind == "torchrun":
        return [_tool("torchrun"), "--standalone", f"--nproc_per_node={nproc}", *entry]
    cmd = [_tool("accelerate"), "launch", f"--num_processes={nproc * machines}", f"--num_machines={machines}"]
    if lc.accelerate_config:
        cmd += [f"--config_file={lc.accelerate_config}"]
    if stage in TRAINING_STAGES and resolve_dtype(cfg.model.dtype) == torch.float32:
        cmd += ["--mixed_precision=no"]  # the trainer runs in float32: a bf16 config file must not disagree
    if machines > 1:
        cmd += [
            f"--main_process_ip={lc.main_process_ip}",
            f"--main_process_port={lc.main_process_port}",
            "--machine_rank=0",
            f"--deepspeed_hostfile={lc.hostfile}",
            "--deepspeed_multinode_launcher=pdsh",
        ]
    return cmd + entry


def launch(stage: str, cfg, paths) -> dict:
    """Run one stage and return its metrics."""
    cmd = stage_command(stage, cfg, paths)
    if cmd is None:
        return run_stage(stage, cfg, paths)
    result = subprocess.run(cmd, check=False)
    if result.returncode != 0:
        raise SrlmError(
            f"stage {stage} of iteration {paths.t} failed (exit {result.returncode}; the failing rank's error is "
            f"printed above): {' '.join(cmd)}"
        )
    return read_json(metrics_file(paths, stage))
