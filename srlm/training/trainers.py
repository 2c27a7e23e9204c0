"""What the SFT and DPO stages share: trainer arguments from config, LoRA, resume, saving M_{t+1}."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import torch
from transformers import TrainerCallback
from transformers.trainer import TRAINER_STATE_NAME
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from srlm.config.global_batch import gradient_accumulation
from srlm.core import faults
from srlm.core.distributed import world_size
from srlm.core.errors import SrlmError
from srlm.core.io import share_as_umask_allows
from srlm.models.precision import dropout_settings, resolve_dtype
from srlm.reporting.tracking import SUMMARY_KEY, append_step_event, keep_steps_upto

PREFIX_CHECKPOINT_RE = re.compile(rf"{PREFIX_CHECKPOINT_DIR}-(\d+)")


class CrashInjection(TrainerCallback):
    """Lets resume tests kill training right after a checkpoint (see srlm.core.faults)."""

    def on_save(self, args, state, control, **kwargs):
        faults.after_checkpoint(Path(args.output_dir).parent.name, state.global_step)


class ShareCheckpoints(TrainerCallback):
    """Gives a saved trainer checkpoint's files the mode the umask allows (safetensors writes its weights 0600)."""

    def on_save(self, args, state, control, **kwargs):
        if state.is_local_process_zero:
            share_as_umask_allows(Path(args.output_dir) / f"checkpoint-{state.global_step}")


class StepLog(TrainerCallback):
    """Appends every trainer log event (loss, learning rate, grad norm, DPO rewards, ...) with its `global_step` to
    `path` (the stage's `steps.jsonl`), on rank 0 only; the driver logs them once the stage is done.

    A trainer resumed from a checkpoint logs the steps after it again: when training begins, the events of later
    steps that the stopped attempt left are cut off, so every step is in the file once. The end-of-training
    summary (runtime, mean loss) is no step's log and is left out.
    """

    def __init__(self, path: Path):
        self.path = Path(path)

    def on_train_begin(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            keep_steps_upto(self.path, state.global_step)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if state.is_world_process_zero and logs and SUMMARY_KEY not in logs:
            append_step_event(self.path, {"global_step": state.global_step, **logs})


def common_args(stage_cfg, cfg, output_dir: Path, seed: int) -> dict:
    """Trainer arguments both stages take; precision comes from the hardware, never a library default."""
    dtype = resolve_dtype(cfg.model.dtype)
    on_gpu = torch.cuda.is_available()
    return dict(
        output_dir=str(output_dir),
        learning_rate=stage_cfg.learning_rate,
        lr_scheduler_type=stage_cfg.lr_scheduler_type,
        lr_scheduler_kwargs=scheduler_kwargs(stage_cfg),
        num_train_epochs=stage_cfg.num_train_epochs,
        max_steps=stage_cfg.max_steps,
        per_device_train_batch_size=stage_cfg.per_device_train_batch_size,
        gradient_accumulation_steps=gradient_accumulation(stage_name(stage_cfg, cfg), stage_cfg, world_size()),
        max_length=stage_cfg.max_length,
        save_strategy="steps",
        save_steps=stage_cfg.save_steps,
        save_total_limit=stage_cfg.save_total_limit,
        logging_steps=stage_cfg.logging_steps,
        gradient_checkpointing=stage_cfg.gradient_checkpointing,
        bf16=dtype == torch.bfloat16,  # on a CPU asked for bf16: autocast, as on GPUs (auto resolves to float32)
        fp16=on_gpu and dtype == torch.float16,
        use_cpu=not on_gpu,
        report_to=[],
        seed=seed,
        data_seed=seed,
        dataloader_num_workers=0,
        ddp_find_unused_parameters=False,  # every parameter takes part; the search costs a graph traversal a step
        disable_tqdm=False,
    )


def stage_name(stage_cfg, cfg) -> str:
    """`sft` or `dpo`: the config group `stage_cfg` is."""
    return next(name for name in ("sft", "dpo") if cfg[name] is stage_cfg)


def deepspeed_launched() -> bool:
    """Whether accelerate started this process with a DeepSpeed config."""
    return os.environ.get("ACCELERATE_USE_DEEPSPEED", "").lower() == "true"


def training_dtype(cfg) -> str:
    """Precision the trained weights are loaded in: full fine-tuning always keeps float32 master weights.

    In bf16, an update of lr 1e-6 times a gradient is below half a bf16 step of most weights and rounds
    to nothing. DeepSpeed keeps its own float32 copy of bf16 weights for the optimizer, and LoRA trains
    float32 adapters (peft upcasts them) over frozen bf16 weights: both load `model.dtype`. Otherwise
    the weights load in float32 and the trainer computes in bf16 (autocast, `bf16=True`).
    """
    if cfg.model.lora is not None or deepspeed_launched():
        return cfg.model.dtype
    return "float32"


def scheduler_kwargs(stage_cfg) -> dict:
    """The final learning rate as a ratio of the peak (`min_lr_rate`), for the `*_with_min_lr` schedules.

    An absolute `min_lr` makes transformers divide by `optimizer.defaults["lr"]`, which DeepSpeed's ZeRO optimizers
    lack (AttributeError when the scheduler is built); the ratio gives the same schedule with any optimizer.
    """
    if "min_lr" not in stage_cfg.lr_scheduler_type:
        return {}
    return {"min_lr_rate": stage_cfg.min_lr / stage_cfg.learning_rate}


def peft_config(cfg):
    if cfg.model.lora is None:
        return None
    from peft import LoraConfig

    lc = cfg.model.lora
    return LoraConfig(
        r=lc.r,
        lora_alpha=lc.alpha,
        lora_dropout=lc.dropout,
        target_modules=list(lc.target_modules),
        task_type="CAUSAL_LM",
    )


def last_checkpoint(checkpoints: Path) -> str | None:
    """The newest complete trainer checkpoint a previous attempt left, to resume from. The trainer writes
    `trainer_state.json` last: a checkpoint without it was cut short (killed, or the disk filled up)."""
    complete = {
        int(m.group(1)): p
        for p in Path(checkpoints).glob(f"{PREFIX_CHECKPOINT_DIR}-*")
        if (m := PREFIX_CHECKPOINT_RE.fullmatch(p.name)) and (p / TRAINER_STATE_NAME).is_file()
    }
    return str(complete[max(complete)]) if complete else None


def sharded(trainer) -> bool:
    """Whether each rank holds only a shard of the weights (DeepSpeed ZeRO-3 or FSDP)."""
    if trainer.is_fsdp_enabled:
        return True
    return trainer.is_deepspeed_enabled and trainer.accelerator.state.deepspeed_plugin.zero_stage == 3


def refuse_sharded_lora(trainer) -> None:
    """LoRA is merged into the base weights on save, which needs them whole on rank 0: stop before training if not."""
    if hasattr(trainer.model, "merge_and_unload") and sharded(trainer):
        raise SrlmError(
            "LoRA with sharded weights (DeepSpeed ZeRO-3 or FSDP) is not supported: the adapter is merged into the "
            "base weights on save, which needs them whole on one rank. Use a ZeRO-2 or DDP accelerate config "
            "(conf/accelerate/zero2.yaml, ddp.yaml) or full fine-tuning."
        )


def save_final_model(trainer, base: str, out: Path) -> None:
    """Save the trained model as a plain HF checkpoint (LoRA merged) and move it into place atomically.

    The trainer's tokenizer is saved with it (with a cloned chat template where one was added), and the
    dropout of `base`'s config is written back: `model.dropout` applies to training only, so the next
    stage loads M_{t+1} as configured, not with a value the previous stage set. Every rank calls this:
    under ZeRO-3 or FSDP each rank holds a shard of the weights, and gathering them
    (`accelerator.get_state_dict`) is a collective; rank 0 writes.
    """
    accelerator = trainer.accelerator
    state_dict = accelerator.get_state_dict(trainer.model_wrapped) if sharded(trainer) else None
    tmp = out.with_name(out.name + ".tmp")
    if accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
        model = accelerator.unwrap_model(trainer.model)
        if hasattr(model, "merge_and_unload"):
            model = model.merge_and_unload()
        restore_dropout(model.config, base)
        model.save_pretrained(tmp, state_dict=state_dict, safe_serialization=True)
        trainer.processing_class.save_pretrained(tmp)
        share_as_umask_allows(tmp)
        shutil.rmtree(out, ignore_errors=True)
        os.replace(tmp, out)
    accelerator.wait_for_everyone()


def restore_dropout(config, base: str) -> None:
    """Put the dropout values of `base`'s config back on `config` before it is saved."""
    from transformers import AutoConfig

    for key, value in dropout_settings(AutoConfig.from_pretrained(base)).items():
        setattr(config, key, value)


def train_metrics(trainer, prefix_keys: tuple[str, ...] = (), resumed_from: str | None = None) -> dict:
    """Steps (and the checkpoint step this attempt resumed from), first/last loss, last values of selected keys."""
    logs = [h for h in trainer.state.log_history if "loss" in h]
    out = {
        "steps": trainer.state.global_step,
        "resumed_from_step": int(resumed_from.rsplit("-", 1)[1]) if resumed_from else 0,
    }
    if logs:
        out["first_loss"] = logs[0]["loss"]
        out["loss"] = logs[-1]["loss"]
        for key in prefix_keys:
            values = [h[key] for h in logs if key in h]
            if values:
                out[key.replace("/", "_")] = values[-1]
    return out
