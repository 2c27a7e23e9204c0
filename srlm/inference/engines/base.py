"""The engine interface: the one way a stage runs a model for inference.

An engine holds a model and its tokenizer and answers three calls on prompts given as text:
- `sample`: N completions per prompt, each prompt with its own seed;
- `next_token_probs`: probabilities of given token ids as the next token (expected-score judging);
- `sequence_logprobs`: log pi of a token sequence's tail given its head, summed (implicit reward).

Text becomes token ids in one place (`Engine.encode`), with no special tokens added: a rendered chat
template already holds every special token it wants (Llama 3's writes its own BOS), so both
implementations feed the model exactly the same ids. Generation stops on every eos id the model's
generation config lists, not only the tokenizer's.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from srlm.models.chat_format import text_turn_markers


class Engine:
    """Shared tokenization and stop ids; `HfEngine` and `VllmEngine` implement the model calls."""

    backend = ""

    def __init__(self, path: str, tokenizer):
        self.path = path
        self.tokenizer = tokenizer
        self.eos_ids = eos_token_ids(path, tokenizer)
        self.turn_markers = text_turn_markers(tokenizer)  # a base model's fallback ChatML: markers are plain text

    def stop_strings(self, stop: list[str] | None) -> list[str] | None:
        """The caller's stop strings, plus the turn markers where they are text (a base model without template)."""
        return [*(stop or []), *self.turn_markers] or None

    def end_turn(self, text: str) -> str:
        """Text before the first plain-text turn marker (a base model writing the next turn itself)."""
        for marker in self.turn_markers:
            text = text.split(marker, 1)[0]
        return text

    def chat(self, user_text: str) -> str:
        """A user turn rendered with the model's chat template, ready for the assistant's reply."""
        return self.tokenizer.apply_chat_template(
            [{"role": "user", "content": user_text}], tokenize=False, add_generation_prompt=True
        )

    def max_context(self) -> int | None:
        """The longest sequence (prompt and reply) the engine takes, None when it sets no limit."""
        raise NotImplementedError

    def encode(self, texts: list[str]) -> list[list[int]]:
        """Token ids of each text exactly as written (no BOS/EOS added)."""
        return [self.tokenizer(t, add_special_tokens=False).input_ids for t in texts]

    def sample(
        self,
        prompts: list[str],
        n: int,
        max_new_tokens: int,
        temperature: float,
        top_p: float,
        seeds: list[int],
        stop: list[str] | None = None,
    ) -> list[list[dict]]:
        """Per prompt, `n` dicts with `text`, `prompt_tokens`, `completion_tokens`, `finish_reason`."""
        raise NotImplementedError

    def next_token_probs(self, texts: list[str], token_ids: list[int]) -> torch.Tensor:
        """[len(texts), len(token_ids)] probabilities of each token id right after each text."""
        raise NotImplementedError

    def sequence_logprobs(self, sequences: list[list[int]], starts: list[int]) -> list[tuple[float, int]]:
        """Per token sequence, the summed log-probability of its tokens from `start` (>= 1) on, and their count."""
        raise NotImplementedError

    def close(self) -> None:
        """Release the model's memory (and, for vLLM, its engine processes)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def eos_token_ids(path: str, tokenizer) -> list[int]:
    """Every id generation stops on: the generation config's eos ids (one or several), then the tokenizer's."""
    ids: list[int] = []
    config = Path(path) / "generation_config.json"
    listed = json.loads(config.read_text()).get("eos_token_id") if config.exists() else None
    if listed is None:
        try:
            from transformers import GenerationConfig

            listed = GenerationConfig.from_pretrained(path).eos_token_id
        except OSError:
            listed = None
    for i in [*(listed if isinstance(listed, list) else [listed]), tokenizer.eos_token_id]:
        if i is not None and i not in ids:
            ids.append(int(i))
    return ids


def finish_reason(stopped: bool) -> str:
    return "stop" if stopped else "length"


def cut_after_stop(text: str, stop: list[str] | None) -> str:
    """Text up to and including its first stop string (the token that completed it may run past it)."""
    ends = [text.find(s) + len(s) for s in stop or () if s in text]
    return text[: min(ends)] if ends else text
