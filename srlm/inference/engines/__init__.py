"""Inference engines: every stage that runs a model (EFT verdicts, self-instruct, generate, judge, eval)
does it through `open_engine`, with the backend its config names (`hf` or `vllm`)."""

from __future__ import annotations

from srlm.inference.engines.base import Engine


def open_engine(cfg, path: str, backend: str) -> Engine:
    """An engine over the model at `path`; close it (or use `with`) to free its memory."""
    if backend == "vllm":
        from srlm.inference.engines.vllm import VllmEngine

        return VllmEngine(path, cfg.generation, seed=cfg.seed, dtype=cfg.model.dtype)
    from srlm.inference.engines.hf import HfEngine

    return HfEngine(path, cfg.model.dtype)


__all__ = ["Engine", "open_engine"]
