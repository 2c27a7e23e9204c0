"""What the benchmark sections share: the run context (config, sizes, the loaded model), statistics, batching."""

from __future__ import annotations

import gc
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.sizes import DEFAULT, QUICK, Sizes
from srlm.config.compose import compose
from srlm.core.io import RowWriter
from srlm.core.seeds import derive_seed
from srlm.inference.batches import run_batches
from srlm.inference.engines.hf import HfEngine
from srlm.models.checkpoints import TINY
from srlm.models.resolve import model_path


def recipe_for(model: str) -> str:
    """The recipe a model is benchmarked with: `smoke` for the tiny random model, else the embedded CPU recipe."""
    return "smoke" if model == TINY else "smollm2-135m/cpu"


@dataclass
class Bench:
    """One benchmark run: the composed config, sizes, repeats, a scratch directory and the shared HF engine."""

    model: str
    repeats: int
    quick: bool
    workdir: Path
    cfg: object = field(init=False)
    _engine: HfEngine | None = field(default=None, init=False, repr=False)

    def __post_init__(self):
        self.cfg = compose(self.overrides())

    @property
    def recipe(self) -> str:
        return recipe_for(self.model)

    @property
    def sizes(self) -> Sizes:
        return QUICK if self.quick else DEFAULT

    @property
    def seed(self) -> int:
        return int(self.cfg.seed)

    def overrides(self, *extra: str) -> list[str]:
        """Hydra overrides selecting this run's recipe and model, plus `extra`."""
        return [f"recipe={self.recipe}", f"model={self.model}", "logger=none", "launcher=inprocess", *extra]

    def model_dir(self) -> str:
        return model_path(self.cfg)

    def engine(self) -> HfEngine:
        """srlm's HF engine over the model (eval mode, on the device), loaded once."""
        if self._engine is None:
            self._engine = HfEngine(self.model_dir(), self.cfg.model.dtype)
        return self._engine

    def release_model(self) -> None:
        """Free the shared engine's model (before sections that load their own)."""
        if self._engine is not None:
            self._engine.close()
        self._engine = None
        gc.collect()

    def scratch(self, name: str) -> Path:
        """A fresh directory under the run's scratch space."""
        return Path(tempfile.mkdtemp(prefix=f"{name}-", dir=self.workdir))

    def repeat_seed(self, *parts) -> int:
        return derive_seed(self.seed, "bench", *parts)


def summarize(values: list[float], digits: int = 4) -> dict:
    """Median, min, max and every run of a figure."""
    values = [round(float(v), digits) for v in values]
    return {"median": round(statistics.median(values), digits), "min": min(values), "max": max(values), "runs": values}


def median_or_none(values: list[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return round(statistics.median(kept), 4) if kept else None


def alternating(repeat: int, first: Callable, second: Callable, *args) -> tuple:
    """(first(*args), second(*args)), running `second` first on odd repeats so load drift hits both alike."""
    if repeat % 2:
        b = second(*args)
        return first(*args), b
    return first(*args), second(*args)


def timed(fn: Callable, *args, **kwargs) -> tuple[object, float]:
    """(result, seconds) of one call."""
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def in_batches(
    bench: Bench,
    items: list[dict],
    process: Callable[[list[dict], list[int]], list[dict]],
    batch_size: int,
    seed: int,
    rows_per_item: int,
    row_id: Callable[[dict], str],
    desc: str,
) -> list[dict]:
    """Run `process(batch, seeds)` over items the way the generate and judge stages do (`run_batches`, a fresh file).

    Items carry `key` (unique) and `length` (the batching sort key); every row carries its item's `key`.
    """
    writer = RowWriter(bench.scratch("rows") / "rows.jsonl")
    try:
        return run_batches(
            items,
            item_key=lambda it: it["key"],
            length=lambda it: it["length"],
            batch_size=batch_size,
            seed=seed,
            writer=writer,
            process=process,
            row_id=row_id,
            row_item=lambda r: r["key"],
            rows_per_item=rows_per_item,
            desc=desc,
        )
    finally:
        writer.close()
