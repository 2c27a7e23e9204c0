"""Checks on a composed config, before any work starts: ranges, combinations, greedy sampling."""

from __future__ import annotations

import re

from omegaconf import DictConfig, OmegaConf

from srlm.config import global_batch
from srlm.config.run_config import enum_value
from srlm.core.errors import SrlmError

BACKEND_KEYS = (
    "generation.backend", "eft.backend", "prompts.backend", "judge.backend", "meta.backend", "eval.backend"
)  # fmt: skip


def judgments_per_candidate(jc, mode: str | None = None) -> int:
    """Judgments the judge stage writes per candidate in `mode` (default `judge.mode`): sampled verdicts, or
    expected scores after sampled justifications (`num_samples` each), else one."""
    written = (mode or enum_value(jc.mode)) == "sampled" or jc.expected_after_justification
    return jc.num_samples if written else 1


def validate(cfg: DictConfig) -> None:
    """Checks that types alone cannot express."""
    checks = [
        (bool(str(cfg.run_dir).strip()), "run_dir", "a directory (empty: an unset variable would write the run here)"),
        (cfg.num_iterations >= 0, "num_iterations", "an integer >= 0"),
        (cfg.generation.num_candidates >= 2, "generation.num_candidates", "at least 2 (pairs need two candidates)"),
        (cfg.judge.num_samples >= 1, "judge.num_samples", "at least 1"),
        *[(OmegaConf.select(cfg, k) in ("hf", "vllm"), k, "hf or vllm") for k in BACKEND_KEYS],
        (cfg.generation.vllm_kv_cache_gb > 0, "generation.vllm_kv_cache_gb", "a size in GiB > 0"),
        (cfg.generation.tensor_parallel_size >= 1, "generation.tensor_parallel_size", "at least 1"),
        (cfg.launcher.num_processes >= 1, "launcher.num_processes", "at least 1"),
        (cfg.launcher.num_machines >= 1, "launcher.num_machines", "at least 1"),
        (cfg.launcher.inference_launcher in ("local", "ray"), "launcher.inference_launcher", "local or ray"),
        (
            cfg.launcher.num_machines == 1
            or enum_value(cfg.launcher.kind) == "accelerate"
            or cfg.launcher.inference_launcher == "ray",
            "launcher.kind",
            "accelerate when launcher.num_machines > 1 (DeepSpeed's multi-node launcher starts the other machines), "
            "unless only inference uses them (launcher.inference_launcher=ray)",
        ),
        (
            global_batch.training_machines(cfg) == 1
            or None not in (cfg.launcher.main_process_ip, cfg.launcher.hostfile),
            "launcher.hostfile",
            "a hostfile and launcher.main_process_ip (machine 0's address) when training uses num_machines > 1",
        ),
        (cfg.logger.backend in ("none", "wandb"), "logger.backend", "none or wandb"),
        (
            cfg.model.dtype in ("auto", "float32", "bfloat16", "float16"),
            "model.dtype",
            "auto/float32/bfloat16/float16",
        ),
        (0 <= cfg.eft.eval_fraction < 1, "eft.eval_fraction", "a fraction in [0, 1)"),
        (0 <= cfg.dpo.eval_fraction < 1, "dpo.eval_fraction", "a fraction in [0, 1)"),
        *range_checks(cfg),
        *greedy_checks(cfg),
        *global_batch.checks(cfg),
        (cfg.prompts.per_iteration >= 1, "prompts.per_iteration", "at least 1"),
        (
            not cfg.prompts.per_iteration_schedule or min(cfg.prompts.per_iteration_schedule) >= 1,
            "prompts.per_iteration_schedule",
            "null or counts of at least 1",
        ),
        (0 <= cfg.pairs.length_margin < 0.5, "pairs.length_margin", "a share of the score range in [0, 0.5)"),
        (0 <= cfg.meta.length_margin < 0.5, "meta.length_margin", "a share of the rating range in [0, 0.5)"),
        (0 < cfg.meta.max_judge_share < 1, "meta.max_judge_share", "a share in (0, 1)"),
        (cfg.meta.max_responses is None or cfg.meta.max_responses >= 1, "meta.max_responses", "null or >= 1"),
        (cfg.disk.max_set_aside is None or cfg.disk.max_set_aside >= 0, "disk.max_set_aside", "null or >= 0"),
        (
            not cfg.meta.enabled or judgments_per_candidate(cfg.judge) >= 2,
            "judge.num_samples",
            "at least 2 with meta.enabled (the meta-judge compares judgments of one response); with "
            "judge.mode=expected_score also judge.expected_after_justification=true",
        ),
    ]
    for ok, key, expected in checks:
        if not ok:
            raise SrlmError(f"invalid configuration: `{key}` = {OmegaConf.select(cfg, key)!r}; expected {expected}")


POSITIVE = (
    "generation.max_new_tokens", "generation.batch_size", "judge.max_new_tokens", "judge.batch_size",
    "eval.max_new_tokens", "sft.per_device_train_batch_size", "sft.gradient_accumulation_steps", "sft.max_length",
    "sft.save_steps", "sft.logging_steps", "dpo.per_device_train_batch_size", "dpo.gradient_accumulation_steps",
    "dpo.max_length", "dpo.save_steps", "dpo.logging_steps", "sft.learning_rate", "dpo.learning_rate", "dpo.beta",
    "sft.num_train_epochs", "dpo.num_train_epochs", "eft.max_prompts", "data.ift_size", "prompts.num_shots",
    "eval.num_samples", "eval.endpoint_timeout_s", "eval.endpoint_concurrency", "data.max_prompt_tokens",
    "meta.max_new_tokens", "meta.batch_size", "eft.verifiable_max_prompts", "eft.verifiable_samples",
    "generation.chunk_size", "sft.save_total_limit", "dpo.save_total_limit",
)  # fmt: skip


UNIT_INTERVAL = ("eft.drop_score_fraction", "prompts.max_similarity", "generation.gpu_memory_utilization")


TOP_P = ("generation.top_p", "judge.top_p", "prompts.top_p")  # 0 keeps no token: HF and vLLM both refuse it


NON_NEGATIVE = (
    "generation.temperature", "judge.temperature", "prompts.temperature", "sft.min_lr", "dpo.min_lr",
    "sft.warmup_ratio", "pairs.min_gap", "meta.temperature", "eval.rewardbench_max", "eval.win_rate_prompts",
    "eval.endpoint_retries", "prompts.num_generated_shots", "prompts.min_words",
)  # fmt: skip


def range_checks(cfg: DictConfig) -> list[tuple[bool, str, str]]:
    """(ok, key, what is allowed) for every ranged value, checked when the config is composed."""
    value = lambda key: OmegaConf.select(cfg, key)  # noqa: E731
    checks = [(value(k) > 0, k, "a number > 0") for k in POSITIVE]
    checks += [(0 <= value(k) <= 1, k, "a number in [0, 1]") for k in UNIT_INTERVAL]
    checks += [(0 < value(k) <= 1, k, "a number in (0, 1] (top-p keeps the smallest set of tokens whose "
                "probability reaches it; 0 keeps none)") for k in TOP_P]  # fmt: skip
    checks += [(value(k) >= 0, k, "a number >= 0") for k in NON_NEGATIVE]
    checks += [
        (value(f"{s}.max_steps") == -1 or value(f"{s}.max_steps") >= 1, f"{s}.max_steps", "-1 (epochs) or >= 1")
        for s in ("sft", "dpo")
    ]
    checks += [(value(f"{s}.min_lr") <= value(f"{s}.learning_rate"), f"{s}.min_lr", f"<= {s}.learning_rate")
               for s in ("sft", "dpo")]  # fmt: skip
    checks += [
        (cfg.prompts.num_generated_shots <= cfg.prompts.num_shots, "prompts.num_generated_shots",
         "<= prompts.num_shots"),
        (cfg.prompts.min_words <= cfg.prompts.max_words, "prompts.max_words", ">= prompts.min_words"),
        (bool(cfg.dpo.loss_type) and set(cfg.dpo.loss_type) <= dpo_loss_types(), "dpo.loss_type",
         f"a list of TRL DPO loss types: {', '.join(sorted(dpo_loss_types()))}"),
    ]  # fmt: skip
    return checks


def greedy_checks(cfg: DictConfig) -> list[tuple[bool, str, str]]:
    """Temperature 0 is greedy decoding: one answer per prompt. It is refused where several samples of one prompt
    are drawn (they would all be the same): the N candidates, and judge verdicts with more than one per candidate."""
    jc = cfg.judge
    eft_writes = cfg.eft.enabled and enum_value(cfg.eft.verdict_source) in ("model", "sft_baseline", "teacher")
    judge_samples = max(
        judgments_per_candidate(jc),
        cfg.eval.num_samples if enum_value(cfg.eval.judge_mode) == "sampled" else 1,
        jc.num_samples if eft_writes else 1,  # EFT's verdicts are sampled whatever judge.mode
    )
    return [
        (cfg.generation.temperature > 0, "generation.temperature",
         "a number > 0 (the N candidates of a prompt are sampled; at 0 all would be the same greedy answer)"),
        (jc.temperature > 0 or judge_samples == 1, "judge.temperature",
         f"a number > 0 with {judge_samples} judgments per response (at 0 all would be the same greedy verdict); "
         "or one greedy verdict per response (judge.num_samples=1, eval.num_samples=1)"),
    ]  # fmt: skip


def dpo_loss_types() -> set[str]:
    """The loss types TRL's DPOConfig documents (it accepts any string and fails at the first step)."""
    from trl import DPOConfig

    return set(re.findall(r"'([a-z_]+)'", DPOConfig.__dataclass_fields__["loss_type"].metadata.get("help", "")))
