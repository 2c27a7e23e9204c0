"""vLLM backend for generate and judge (`generation.backend=vllm`, extra `srlm[vllm]`, CUDA GPUs).

One process holds the engine and splits the model over `generation.tensor_parallel_size` GPUs;
prefix caching shares the judge rubric's prefill across candidates. It answers the same two calls
as the HF path (`sample`, `next_token_probs`, see srlm.generation) and returns the same rows;
every request gets its own seed, drawn from the batch's seeded generator.
"""

from __future__ import annotations

import importlib.util
import math

import torch

from srlm.errors import SrlmError
from srlm.models import resolve_dtype

LOGPROBS = 20  # vLLM's default ceiling on returned logprobs per token


def check_vllm_available() -> None:
    """Raise a SrlmError saying what is missing when the vLLM backend cannot run here."""
    if importlib.util.find_spec("vllm") is None:
        raise SrlmError(
            "generation.backend=vllm needs vLLM, which is not installed: pip install 'srlm[vllm]' "
            "(CUDA GPUs only), or set generation.backend=hf"
        )
    if not torch.cuda.is_available():
        raise SrlmError("generation.backend=vllm needs a CUDA GPU and none is visible; set generation.backend=hf")


class VllmEngine:
    """A vLLM `LLM` over a model directory, configured from `cfg.generation` and `cfg.model`."""

    def __init__(self, path: str, cfg):
        check_vllm_available()
        from vllm import LLM

        dtype = resolve_dtype(cfg.model.dtype)
        self.llm = LLM(
            model=path,
            tensor_parallel_size=cfg.generation.tensor_parallel_size,
            gpu_memory_utilization=cfg.generation.gpu_memory_utilization,
            dtype=str(dtype).removeprefix("torch."),
            enable_prefix_caching=True,
            seed=cfg.seed,
        )

    def sample(self, prompts, num_return_sequences, max_new_tokens, temperature, top_p, stop_strings=None):
        """Per prompt, `num_return_sequences` dicts with text, token counts and finish reason."""
        from vllm import SamplingParams

        seeds = torch.randint(0, 2**31 - 1, (len(prompts),)).tolist()
        params = [
            SamplingParams(
                n=num_return_sequences,
                temperature=temperature,
                top_p=top_p if temperature > 0 else 1.0,
                max_tokens=max_new_tokens,
                seed=seed,
                stop=stop_strings,
                include_stop_str_in_output=True,
            )
            for seed in seeds
        ]
        outputs = self.llm.generate(prompts, params, use_tqdm=False)
        return [
            [
                {
                    "text": c.text.strip(),
                    "prompt_tokens": len(o.prompt_token_ids),
                    "completion_tokens": len(c.token_ids),
                    "finish_reason": "length" if c.finish_reason == "length" else "stop",
                }
                for c in o.outputs
            ]
            for o in outputs
        ]

    def next_token_probs(self, texts: list[str], token_ids: list[int]) -> torch.Tensor:
        """Probabilities of `token_ids` as the next token (0 where outside the top LOGPROBS)."""
        from vllm import SamplingParams

        params = SamplingParams(max_tokens=1, temperature=0.0, logprobs=LOGPROBS)
        outputs = self.llm.generate(texts, params, use_tqdm=False)
        probs = torch.zeros(len(texts), len(token_ids))
        for i, o in enumerate(outputs):
            top = o.outputs[0].logprobs[0]
            for j, tid in enumerate(token_ids):
                if tid in top:
                    probs[i, j] = math.exp(top[tid].logprob)
        return probs
