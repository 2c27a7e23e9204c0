"""The global batch of a training stage, whatever the number of processes.

`sft.global_batch_size` / `dpo.global_batch_size` fix the examples per optimizer step; the gradient accumulation
follows from the per-device batch and the processes (`launcher.num_processes` x `launcher.num_machines`):
global = per_device_train_batch_size x processes x accumulation. The paper's 16 with a per-device batch of 1 is
2 accumulation steps on 8 GPUs and 1 on 16. Unset, `gradient_accumulation_steps` applies as written.
"""

from __future__ import annotations

from srlm.config.run_config import enum_value
from srlm.core.errors import SrlmError


def accumulation_steps(global_batch: int, per_device: int, processes: int) -> int | None:
    """Accumulation steps that make `global_batch`, or None where per_device x processes does not divide it."""
    per_step = per_device * processes
    return global_batch // per_step if global_batch % per_step == 0 else None


def expected(stage: str, stage_cfg, processes: int) -> str:
    """What `<stage>.global_batch_size` must be, with the figures of this launch."""
    return (
        f"null or a multiple of {stage}.per_device_train_batch_size x processes = "
        f"{stage_cfg.per_device_train_batch_size} x {processes} = {stage_cfg.per_device_train_batch_size * processes}"
    )


def gradient_accumulation(stage: str, stage_cfg, processes: int) -> int:
    """The stage's accumulation steps on `processes` processes (from its global batch where one is set)."""
    if stage_cfg.global_batch_size is None:
        return stage_cfg.gradient_accumulation_steps
    steps = accumulation_steps(stage_cfg.global_batch_size, stage_cfg.per_device_train_batch_size, processes)
    if steps is None:
        raise SrlmError(
            f"`{stage}.global_batch_size` = {stage_cfg.global_batch_size}; "
            f"expected {expected(stage, stage_cfg, processes)}"
        )
    return steps


def training_machines(cfg) -> int:
    """Machines the training stages run on: all of them under accelerate (DeepSpeed's multi-node launcher), else
    machine 0 (inference may still use every machine: `launcher.inference_launcher=ray`)."""
    return cfg.launcher.num_machines if enum_value(cfg.launcher.kind) == "accelerate" else 1


def checks(cfg) -> list[tuple[bool, str, str]]:
    """(ok, key, expected) for both training stages at the configured launch, checked when the config is composed."""
    processes = cfg.launcher.num_processes * training_machines(cfg)
    out = []
    for stage in ("sft", "dpo"):
        sc = cfg[stage]
        if processes < 1 or sc.per_device_train_batch_size < 1:
            continue  # no launch to check against: the range checks name those keys
        ok = sc.global_batch_size is None or (
            sc.global_batch_size >= 1
            and accumulation_steps(sc.global_batch_size, sc.per_device_train_batch_size, processes) is not None
        )
        out.append((ok, f"{stage}.global_batch_size", expected(stage, sc, processes)))
    return out
