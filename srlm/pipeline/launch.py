"""How a stage is launched: in this process, as a subprocess, or under torchrun / accelerate."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import torch
from omegaconf import OmegaConf

from srlm.config.run_config import enum_value
from srlm.core.errors import SrlmError
from srlm.core.io import read_json
from srlm.models.precision import resolve_dtype
from srlm.pipeline import ray_replicas
from srlm.pipeline.stage_group import written_file
from srlm.stages import metrics_file, run_stage

TRAINING_STAGES = ("sft_baseline", "sft", "dpo")
ENGINE_KEYS = {  # stages that run a model for inference, and the key naming their engine
    "eft": "eft.backend",
    "prompts": "prompts.backend",
    "generate": "generation.backend",
    "judge": "judge.backend",
    "meta_judge": "meta.backend",
    "eval": "eval.backend",
}
# rows split over ranks; self-instruct is sequential
SHARDED_STAGES = ("eft", "generate", "judge", "meta_judge", "eval")
SHARED_ENGINE_STAGES = ("generate", "judge", "meta_judge")  # all on M_t, back to back


def stage_backend(stage: str, cfg) -> str | None:
    """The engine backend of an inference stage (None for the others)."""
    return OmegaConf.select(cfg, ENGINE_KEYS[stage]) if stage in ENGINE_KEYS else None


def runs_model(stage: str, cfg) -> bool:
    """Whether the stage runs a model for inference (EFT only with model verdicts, prompts only self-instructed)."""
    if stage == "eft":
        return bool(cfg.eft.enabled) and enum_value(cfg.eft.verdict_source) in ("sft_baseline", "model", "teacher")
    if stage == "prompts":
        return enum_value(cfg.prompts.source) == "self_instruct"
    return stage in ENGINE_KEYS or stage in TRAINING_STAGES


def uses_vllm(stage: str, cfg) -> bool:
    return runs_model(stage, cfg) and stage_backend(stage, cfg) == "vllm"


def vllm_replicas(cfg) -> int:
    """Data-parallel vLLM engines: the generation processes (GPUs per machine) over the tensor-parallel size."""
    lc = cfg.launcher
    return max(1, (lc.generation_processes or lc.num_processes) // cfg.generation.tensor_parallel_size)


def on_ray(stage: str, cfg) -> bool:
    """Whether `stage` runs as replicas on every machine of a Ray cluster (`srlm.pipeline.ray_replicas`)."""
    return cfg.launcher.inference_launcher == "ray" and stage in SHARDED_STAGES and runs_model(stage, cfg)


def stage_launcher(stage: str, cfg) -> tuple[str, int]:
    """(launcher kind, processes per machine) of `stage`.

    Training stages use `launcher.kind`. Inference stages with the HF backend use the generation
    launcher, rows sharded over its ranks. With vLLM a stage always runs in processes of its own, so
    its engine's memory is gone before any training stage starts: one engine split over
    `tensor_parallel_size` devices, and one replica (a torchrun rank) per further group of devices.
    Self-instruct (each round feeds the next) and model-free stages run as one process. With
    `launcher.inference_launcher=ray` the sharded inference stages run as that many replicas on every machine.
    """
    lc = cfg.launcher
    kind = enum_value(lc.kind)
    if stage in TRAINING_STAGES:
        return kind, lc.num_processes
    if on_ray(stage, cfg):
        return "ray", vllm_replicas(cfg) if uses_vllm(stage, cfg) else lc.generation_processes or lc.num_processes
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
    if kind in ("subprocess", "ray") or (nproc * machines == 1 and stage not in TRAINING_STAGES):
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


def shares_engine(stage: str, cfg) -> bool:
    """Whether `stage` may run in one process with its neighbours on one engine: a vLLM stage of
    SHARED_ENGINE_STAGES that would run as a single process (replicas under torchrun each load their own)."""
    return (
        bool(cfg.generation.share_engine)
        and stage in SHARED_ENGINE_STAGES
        and uses_vllm(stage, cfg)
        and stage_launcher(stage, cfg) == ("subprocess", 1)
    )


def engine_group(stage: str, cfg, pending: list[str]) -> list[str]:
    """`stage` and the stages right after it in `pending` (the iteration's stages still to run, `stage` first)
    that run on the same engine in its process; `[stage]` when it runs alone."""
    if not shares_engine(stage, cfg):
        return [stage]
    group = [stage]
    for following in pending[pending.index(stage) + 1 :]:
        if not shares_engine(following, cfg):
            break
        group.append(following)
    return group


def group_command(stages: list[str], paths) -> list[str]:
    return [sys.executable, "-m", "srlm.pipeline.stage_group", str(paths.run.root), str(paths.t), *stages]


def training_layout(cfg) -> tuple[str, bool]:
    """(name, weights sharded?) of how training stages place the model: from the launcher and accelerate config."""
    lc = cfg.launcher
    kind = enum_value(lc.kind)
    if kind in ("inprocess", "subprocess"):
        return "one process", False
    if kind == "torchrun" or not lc.accelerate_config:
        return "DDP", False
    acc = OmegaConf.load(lc.accelerate_config)
    distributed = str(acc.get("distributed_type", ""))
    if distributed == "DEEPSPEED":
        stage = int(OmegaConf.select(acc, "deepspeed_config.zero_stage", default=0))
        return f"DeepSpeed ZeRO-{stage}", stage == 3
    if distributed == "FSDP":
        return "FSDP", True
    return "DDP", False


def precision(cfg, layout: str) -> str:
    """What training keeps in which precision (see `srlm.training.trainers.training_dtype`)."""
    dtype = resolve_dtype(cfg.model.dtype)
    if dtype == torch.float32:
        return "float32"
    half = str(dtype).removeprefix("torch.")
    lora = cfg.model.lora is not None
    if layout.startswith("DeepSpeed"):
        return f"{half} {'LoRA adapters' if lora else 'weights'}, float32 master copy in DeepSpeed's optimizer"
    if lora:
        return f"LoRA: {half} base weights, float32 adapters"
    return f"float32 weights, {half} compute (autocast)"


@dataclass(frozen=True)
class StagePlan:
    """How one stage of one iteration runs, as `run` would launch it."""

    iteration: int
    stage: str
    command: list[str] | None  # None: in the driver's process
    runs_model: bool
    engine: str | None  # hf or vllm for an inference stage
    processes: int  # per machine
    model_devices: int  # devices one copy of the model is spread over (1: whole in one process on one device)
    layout: str
    group: tuple[str, ...] = ()  # the stages run in one process on one engine, this one among them
    placement: str = ""  # where its replicas run, when not on this machine alone

    def describe(self) -> str:
        how = " ".join(self.command) if self.command else "(in process)"
        if self.placement:
            how = f"{self.placement}, each: {how}"
        if self.group and self.stage != self.group[0]:
            how = f"(in {self.group[0]}'s process, on its engine)"
        head = f"[iteration {self.iteration}] {self.stage}: {how}"
        return f"{head}   # {self.layout}" if self.runs_model else head


def stage_plan(stage: str, cfg, paths, iteration_stages: list[str] | None = None) -> StagePlan:
    """How `stage` runs; with the iteration's stages, also which of them share its process and engine."""
    kind, nproc = stage_launcher(stage, cfg)
    group = plan_group(stage, cfg, iteration_stages or [stage])
    machines = cfg.launcher.num_machines
    engine = stage_backend(stage, cfg) if stage in ENGINE_KEYS and runs_model(stage, cfg) else None
    model_devices, layout = 1, ""
    if stage in TRAINING_STAGES:
        name, sharded_weights = training_layout(cfg)
        ranks = nproc * machines if name != "one process" else 1
        model_devices = ranks if sharded_weights else 1
        spread = "weights sharded over the ranks" if sharded_weights else "whole model per rank"
        layout = f"train: {name}" + (f" x {ranks} ranks, {spread}" if ranks > 1 else "") + f"; {precision(cfg, name)}"
    elif engine == "vllm":
        model_devices = cfg.generation.tensor_parallel_size
        per = " per machine" if kind == "ray" else ""
        layout = f"vLLM: {nproc} engine(s){per} x tensor parallel {model_devices}"
    elif engine == "hf":
        layout = f"HF: {nproc} rank(s), whole model per rank"
    command = stage_command(stage, cfg, paths)
    placement = ray_replicas.describe(machines, nproc) if kind == "ray" else ""
    if len(group) > 1 and stage == group[0]:
        command = group_command(list(group), paths)
    return StagePlan(
        iteration=paths.t,
        stage=stage,
        command=command,
        runs_model=runs_model(stage, cfg),
        engine=engine,
        processes=nproc,
        model_devices=model_devices,
        layout=layout,
        group=group if len(group) > 1 else (),
        placement=placement,
    )


def plan_group(stage: str, cfg, iteration_stages: list[str]) -> tuple[str, ...]:
    """The group `stage` belongs to when every stage of the iteration runs (a fresh run)."""
    i = 0
    while i < len(iteration_stages):
        group = engine_group(iteration_stages[i], cfg, iteration_stages)
        if stage in group:
            return tuple(group)
        i += len(group)
    return (stage,)


class Launches:
    """Launches the stages the driver asks for: alone, or with the stages after them on one engine in one process
    (`engine_group`), whose results it hands out when the driver reaches them. A group stopped half way keeps the
    stages it finished; the first unfinished one fails with the group's error."""

    def __init__(self, cfg):
        self.cfg = cfg
        self.ready: dict[tuple[int, str], tuple[dict, list[str]] | BaseException] = {}

    def launch(self, stage: str, paths, pending: list[str]) -> tuple[dict, list[str] | None]:
        """(metrics, files written: None when the caller sees them itself) of `stage`; `pending` as for
        `engine_group`."""
        result = self.ready.pop((paths.t, stage), None)
        if isinstance(result, BaseException):
            raise result
        if result is not None:
            return result
        group = engine_group(stage, self.cfg, pending)
        if len(group) == 1:
            return launch(stage, self.cfg, paths), None
        return self._launch_group(group, paths)

    def _launch_group(self, group: list[str], paths) -> tuple[dict, list[str]]:
        for stage in group:  # an earlier attempt's records are not this launch's
            metrics_file(paths, stage).unlink(missing_ok=True)
            written_file(paths, stage).unlink(missing_ok=True)
        cmd = group_command(group, paths)
        code = subprocess.run(cmd, check=False).returncode
        results = {}
        for stage in group:
            if not metrics_file(paths, stage).exists():
                break
            results[stage] = (read_json(metrics_file(paths, stage)), read_json(written_file(paths, stage)))
        failed = next((s for s in group if s not in results), None)
        error = SrlmError(
            f"stage {failed} of iteration {paths.t} failed (exit {code}; the error is printed above; it ran in one "
            f"process with {', '.join(s for s in group if s != failed)}): {' '.join(cmd)}"
        )
        for stage in group[1:]:
            self.ready[(paths.t, stage)] = results.get(stage, error)
        if group[0] not in results:
            raise error
        return results[group[0]]


def launch(stage: str, cfg, paths) -> dict:
    """Run one stage and return its metrics."""
    cmd = stage_command(stage, cfg, paths)
    if cmd is None:
        return run_stage(stage, cfg, paths)
    if on_ray(stage, cfg):
        code = ray_replicas.run_stage(cmd, cfg, stage_launcher(stage, cfg)[1])
    else:
        code = subprocess.run(cmd, check=False).returncode
    if code != 0:
        raise SrlmError(
            f"stage {stage} of iteration {paths.t} failed (exit {code}; the failing rank's error is "
            f"printed above): {' '.join(cmd)}"
        )
    return read_json(metrics_file(paths, stage))
