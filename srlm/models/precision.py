"""Precision and device: the dtype a run computes in, and the model's dropout settings."""

from __future__ import annotations

import os

import torch


def resolve_dtype(name: str = "auto") -> torch.dtype:
    """Precision from the hardware: bf16 on a GPU that supports it natively, float32 otherwise."""
    if name == "auto":
        if torch.cuda.is_available() and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float32
    return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[name]


def device() -> torch.device:
    if torch.cuda.is_available():
        local_rank = int(os.environ.get("LOCAL_RANK", 0))
        return torch.device("cuda", local_rank)
    return torch.device("cpu")


DROPOUT_KEYS = ("attention_dropout", "hidden_dropout", "attn_pdrop", "resid_pdrop", "embd_pdrop", "dropout")


def dropout_settings(config) -> dict[str, float]:
    """The dropout probabilities a model config declares (names differ by architecture)."""
    return {k: getattr(config, k) for k in DROPOUT_KEYS if isinstance(getattr(config, k, None), (int, float))}
