"""dpo: seconds per optimizer step of srlm's dpo stage vs a bare TRL `DPOTrainer` script, same pairs and settings.

Both train the same seed-set pairs with the recipe's batch size, accumulation, max_length, learning rate
and beta, the hardware's precision (fp32 on a CPU), no gradient checkpointing, for the same steps. A step
time is read from the trainer's `on_step_end` times after the warm-up steps, so model loading, the first
step and the final save are not counted; no checkpoint falls inside the timed steps on either side.
"""

from __future__ import annotations

import gc
import time
from functools import partial
from unittest.mock import patch

import torch
from transformers import TrainerCallback

from benchmarks.common import Bench, alternating, summarize
from benchmarks.data import seed_pairs
from srlm.config.compose import compose
from srlm.core.io import write_jsonl
from srlm.core.paths import RunPaths
from srlm.models.loading import load_tokenizer
from srlm.models.precision import resolve_dtype
from srlm.stages import dpo as dpo_stage
from srlm.training.trainers import CrashInjection


class StepTimer(TrainerCallback):
    """Times every optimizer step's end and every checkpoint save."""

    def __init__(self):
        self.step_ends: list[float] = []
        self.saves: list[float] = []

    def on_step_end(self, args, state, control, **kwargs):
        self.step_ends.append(time.perf_counter())

    def on_save(self, args, state, control, **kwargs):
        self.saves.append(time.perf_counter() - self.step_ends[-1])

    def seconds_per_step(self, warmup: int) -> float:
        """Mean step time after the first `warmup` steps."""
        timed = self.step_ends[warmup - 1 :]
        return (timed[-1] - timed[0]) / (len(timed) - 1)


class TimedCrashInjection(CrashInjection, StepTimer):
    """srlm's own trainer callback, timed."""

    def __init__(self):
        StepTimer.__init__(self)

    def on_save(self, args, state, control, **kwargs):
        StepTimer.on_save(self, args, state, control, **kwargs)
        CrashInjection.on_save(self, args, state, control, **kwargs)


def total_steps(bench: Bench) -> int:
    return bench.sizes.dpo_warmup_steps + bench.sizes.dpo_steps


def pairs_needed(bench: Bench) -> int:
    dc = bench.cfg.dpo
    return total_steps(bench) * dc.per_device_train_batch_size * dc.gradient_accumulation_steps


def tokens_per_step(bench: Bench, pairs: list[dict]) -> float:
    """Mean tokens of (prompt + chosen) + (prompt + rejected) per pair, cut at max_length, times pairs per step."""
    tok = load_tokenizer(bench.model_dir())
    dc = bench.cfg.dpo

    def length(prompt: str, reply: str) -> int:
        chat = [{"role": "user", "content": prompt}, {"role": "assistant", "content": reply}]
        text = tok.apply_chat_template(chat, tokenize=False)
        return min(len(tok(text, add_special_tokens=False).input_ids), dc.max_length)

    per_pair = sum(length(p["prompt"], p["chosen"]) + length(p["prompt"], p["rejected"]) for p in pairs) / len(pairs)
    return per_pair * dc.per_device_train_batch_size * dc.gradient_accumulation_steps


def srlm_dpo(bench: Bench, pairs: list[dict], seed: int) -> StepTimer:
    """srlm's dpo stage on a fresh run directory whose M_t is the base model."""
    root = bench.scratch("dpo-srlm")
    steps = total_steps(bench)
    cfg = compose(
        bench.overrides(f"run_dir={root}", f"seed={seed}", f"dpo.max_steps={steps}", f"dpo.save_steps={steps}")
    )
    paths = RunPaths(root).iteration(1)
    paths.previous.model.parent.mkdir(parents=True)
    paths.previous.model.symlink_to(bench.model_dir(), target_is_directory=True)
    write_jsonl(paths.pairs, pairs)
    timer = TimedCrashInjection()
    with patch.object(dpo_stage, "CrashInjection", lambda: timer):
        dpo_stage.run(cfg, paths)
    return timer


def bare_dpo(bench: Bench, pairs: list[dict], seed: int) -> StepTimer:
    """A plain TRL script: load policy and reference, build DPOConfig with the same settings, train."""
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    dc = bench.cfg.dpo
    path = bench.model_dir()
    dtype = resolve_dtype(bench.cfg.model.dtype)
    on_gpu = torch.cuda.is_available()
    args = DPOConfig(
        output_dir=str(bench.scratch("dpo-trl")),
        per_device_train_batch_size=dc.per_device_train_batch_size,
        gradient_accumulation_steps=dc.gradient_accumulation_steps,
        max_length=dc.max_length,
        learning_rate=dc.learning_rate,
        beta=dc.beta,
        max_steps=total_steps(bench),
        bf16=on_gpu and dtype == torch.bfloat16,
        fp16=on_gpu and dtype == torch.float16,
        use_cpu=not on_gpu,
        gradient_checkpointing=False,
        save_strategy="no",
        logging_steps=1,
        report_to=[],
        seed=seed,
    )
    tokenizer = AutoTokenizer.from_pretrained(path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    dataset = Dataset.from_list(
        [
            {
                "prompt": [{"role": "user", "content": p["prompt"]}],
                "chosen": [{"role": "assistant", "content": p["chosen"]}],
                "rejected": [{"role": "assistant", "content": p["rejected"]}],
            }
            for p in pairs
        ]
    )
    timer = StepTimer()
    trainer = DPOTrainer(
        model=AutoModelForCausalLM.from_pretrained(path, dtype=dtype),
        ref_model=AutoModelForCausalLM.from_pretrained(path, dtype=dtype),
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
        callbacks=[timer],
    )
    trainer.train()
    return timer


def measured(fn, bench: Bench, pairs: list[dict], seed: int) -> dict:
    """Seconds per step (and peak GPU memory where there is a GPU) of one training run."""
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    timer = fn(bench, pairs, seed)
    out = {"s_per_step": timer.seconds_per_step(bench.sizes.dpo_warmup_steps), "saves_s": timer.saves}
    if torch.cuda.is_available():
        out["peak_memory_bytes"] = torch.cuda.max_memory_allocated()
    gc.collect()
    return out


def run(bench: Bench) -> dict:
    pairs = seed_pairs(bench.cfg.data, pairs_needed(bench))
    step_tokens = tokens_per_step(bench, pairs)
    srlm_s, bare_s, overheads, saves, peaks = [], [], [], [], {"srlm": [], "trl": []}
    for r in range(bench.repeats):
        print(f"[bench] dpo: repeat {r + 1}/{bench.repeats} (srlm stage and bare TRL)", flush=True)
        seed = bench.repeat_seed("dpo", r)
        ours, theirs = alternating(r, partial(measured, srlm_dpo), partial(measured, bare_dpo), bench, pairs, seed)
        srlm_s.append(ours["s_per_step"])
        bare_s.append(theirs["s_per_step"])
        overheads.append(ours["s_per_step"] / theirs["s_per_step"])
        saves += ours["saves_s"]
        for name, m in (("srlm", ours), ("trl", theirs)):
            if "peak_memory_bytes" in m:
                peaks[name].append(m["peak_memory_bytes"])
    dc = bench.cfg.dpo
    overhead = summarize(overheads)
    out = {
        "pairs": len(pairs),
        "per_device_train_batch_size": dc.per_device_train_batch_size,
        "gradient_accumulation_steps": dc.gradient_accumulation_steps,
        "max_length": dc.max_length,
        "precision": str(resolve_dtype(bench.cfg.model.dtype)).removeprefix("torch."),
        "warmup_steps": bench.sizes.dpo_warmup_steps,
        "timed_steps": bench.sizes.dpo_steps,
        "tokens_per_step": round(step_tokens, 1),
        "srlm_s_per_step": summarize(srlm_s),
        "trl_s_per_step": summarize(bare_s),
        "srlm_tokens_per_s": summarize([step_tokens / s for s in srlm_s]),
        "trl_tokens_per_s": summarize([step_tokens / s for s in bare_s]),
        "overhead_vs_trl": overhead["median"],
        "overhead_vs_trl_stats": overhead,
        "srlm_checkpoint_save_s": summarize(saves) if saves else None,
    }
    if peaks["srlm"]:
        out["srlm_peak_memory_bytes"] = max(peaks["srlm"])
        out["trl_peak_memory_bytes"] = max(peaks["trl"])
    return out
