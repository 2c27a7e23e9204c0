"""Metrics: `metrics.jsonl` always, wandb when configured (offline without an API key).

One wandb run per experiment: its id is kept in the manifest and resumed with the run; the
iteration is the step metric. Only rank 0 logs.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path
from typing import Any

from srlm.distributed import is_rank_zero


def flatten(d: dict, prefix: str = "") -> dict[str, Any]:
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "/"))
        elif isinstance(v, (int, float, bool)) or v is None:
            out[key] = v
    return out


class MetricsLogger:
    """Appends metric events to `metrics.jsonl` and mirrors them to wandb when enabled."""

    def __init__(self, metrics_path: Path, cfg=None, manifest=None, config_dict: dict | None = None):
        self.path = Path(metrics_path)
        self.wandb_run = None
        if cfg is not None and cfg.logger.backend == "wandb" and is_rank_zero():
            self.wandb_run = _init_wandb(cfg, manifest, config_dict)

    def log(self, iteration: int, stage: str, metrics: dict[str, Any]) -> None:
        if not is_rank_zero():
            return
        event = {"time": time.time(), "iteration": iteration, "stage": stage, **flatten(metrics)}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(event) + "\n")
        if self.wandb_run is not None:
            values = {f"{stage}/{k}": v for k, v in flatten(metrics).items() if v is not None}
            self.wandb_run.log({"iteration": iteration, **values})

    def log_table(self, iteration: int, name: str, rows: list[dict]) -> None:
        if self.wandb_run is None or not rows:
            return
        import wandb

        columns = list(rows[0])
        table = wandb.Table(columns=columns, data=[[str(r.get(c, "")) for c in columns] for r in rows])
        self.wandb_run.log({"iteration": iteration, f"samples/{name}": table})

    def finish(self) -> None:
        if self.wandb_run is not None:
            self.wandb_run.finish()
            self.wandb_run = None


def _init_wandb(cfg, manifest, config_dict):
    import wandb

    mode = cfg.logger.mode or ("online" if os.environ.get("WANDB_API_KEY") else "offline")
    run_id = manifest.data.get("wandb_run_id") if manifest else None
    if run_id is None:
        run_id = uuid.uuid4().hex[:12]
        if manifest is not None:
            manifest.data["wandb_run_id"] = run_id
            manifest.save()
    run = wandb.init(
        project=cfg.logger.project,
        entity=cfg.logger.entity,
        name=cfg.name,
        id=run_id,
        resume="allow",
        mode=mode,
        dir=str(Path(cfg.run_dir).resolve()),
        config=config_dict,
    )
    run.define_metric("iteration")
    run.define_metric("*", step_metric="iteration")
    return run
