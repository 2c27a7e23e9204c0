"""Inference engines: every stage that runs a model (EFT verdicts, self-instruct, generate, judge, eval)
does it through `open_engine`, with the backend its config names (`hf` or `vllm`).

Inside `engine_pool()` an engine stays loaded after a stage closes it, and the next stage that opens the same
model with the same backend gets it back: stages run back to back in one process (generate, judge and
meta-judge on M_t, `srlm.pipeline.stage_group`) load the model once. One engine is held at a time.
"""

from __future__ import annotations

import contextlib
import time

from srlm.inference.engines.base import Engine

_pool: dict[tuple, Engine] | None = None  # None: no pool, every engine is the caller's to close


class SharedEngine:
    """A pooled engine as a stage sees it: everything but `close`, which leaves it loaded for the next stage."""

    pooled = True

    def __init__(self, engine: Engine):
        self._engine = engine

    def __getattr__(self, name):
        return getattr(self._engine, name)

    def close(self) -> None:
        """Kept loaded: the pool closes it."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _load(cfg, path: str, backend: str) -> Engine:
    if backend == "vllm":
        from srlm.inference.engines.vllm import VllmEngine

        return VllmEngine(path, cfg.generation, seed=cfg.seed, dtype=cfg.model.dtype)
    from srlm.inference.engines.hf import HfEngine

    return HfEngine(path, cfg.model.dtype)


def open_engine(cfg, path: str, backend: str) -> Engine:
    """An engine over the model at `path`; close it (or use `with`) to free its memory."""
    if _pool is None:
        return _load(cfg, path, backend)
    key = (backend, str(path), str(cfg.model.dtype))
    if key in _pool:
        print(f"[srlm] engine: {backend} on {path} reused (loaded once for this group of stages)", flush=True)
    else:
        _release()  # one engine in memory at a time
        start = time.time()
        _pool[key] = _load(cfg, path, backend)
        print(f"[srlm] engine: {backend} on {path} loaded in {time.time() - start:.1f} s", flush=True)
    return SharedEngine(_pool[key])


def _release() -> None:
    while _pool:
        _, engine = _pool.popitem()
        engine.close()


@contextlib.contextmanager
def engine_pool():
    """Engines opened inside stay loaded until the block ends (see the module's docstring)."""
    global _pool
    if _pool is not None:  # already pooling: the outer block releases
        yield
        return
    _pool = {}
    try:
        yield
    finally:
        _release()
        _pool = None


__all__ = ["Engine", "engine_pool", "open_engine"]
