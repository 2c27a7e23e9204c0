"""Metrics: `metrics.jsonl` always, wandb when configured (offline without an API key).

One wandb run per experiment: its id is kept in the manifest and resumed with the run. Stage metrics
(`<stage>/<metric>`) and sample tables (`samples/<name>`) have the iteration as their step metric.
Per-step trainer logs of the training stages (`train/<stage>/<metric>`, e.g. `train/dpo/loss`) have
`train/step`: the optimizer step counted over every training stage of the run in order (the seed SFT's
steps, then iteration 1's DPO steps, ...), so the curves of all iterations share one axis.

Training stages run as their own processes: rank 0 of the trainer appends each log event to the
stage's `steps.jsonl` (`StepLog` in `srlm.training.trainers`), and the driver, which alone writes
`metrics.jsonl` and wandb, logs those events once the stage is done. Only rank 0 logs.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path
from typing import Any

from srlm.core.distributed import is_rank_zero
from srlm.core.io import atomic_write_text, read_jsonl
from srlm.core.paths import BASELINE_SEED_STAGES, META_LOOP_STAGES

TRAINING_STAGES = ("sft_baseline", "sft", "dpo")  # in the order they run within an iteration
TRAIN_STEP = "train/step"
SUMMARY_KEY = "train_runtime"  # in the trainer's end-of-training summary event, which is no step's log
STEP_FIELDS = ("time", "iteration", "stage", "step", "train_step")  # of a per-step line in metrics.jsonl


def flatten(d: dict, prefix: str = "") -> dict[str, Any]:
    """Nested metrics as `a/b/c` keys; a 95% interval `[lo, hi]` becomes `<key>/lo` and `<key>/hi`."""
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "/"))
        elif isinstance(v, (int, float, bool)) or v is None:
            out[key] = v
        elif isinstance(v, list) and len(v) == 2 and "interval" in key and all(isinstance(x, float) for x in v):
            out[f"{key}/lo"], out[f"{key}/hi"] = v
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

    def log_steps(self, iteration: int, stage: str, events: list[dict], first_train_step: int = 0) -> None:
        """Log a training stage's per-step events (`read_step_events`), one metrics.jsonl line per step.

        A line holds `iteration`, `stage`, `step` (the stage's optimizer step), `train_step` (`first_train_step`
        plus `step`: the run-wide step, see `train_step_offset`) and the trainer's values under their own names
        (`loss`, `learning_rate`, `grad_norm`, `rewards/margins`, ...). In wandb: `train/<stage>/<name>` against
        `train/step`, with `train/iteration`.
        """
        if not is_rank_zero() or not events:
            return
        now = time.time()
        lines = []
        for event in events:
            step = event["global_step"]
            values = {k: v for k, v in flatten(event).items() if k != "global_step"}
            record = {"time": now, "iteration": iteration, "stage": stage, "step": step}
            lines.append({**record, "train_step": first_train_step + step, **values})
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as f:
            f.write("".join(json.dumps(line) + "\n" for line in lines))
        if self.wandb_run is not None:
            for line in lines:
                values = {f"train/{stage}/{k}": v for k, v in line.items() if k not in STEP_FIELDS and v is not None}
                self.wandb_run.log({TRAIN_STEP: line["train_step"], "train/iteration": iteration, **values})

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
    init = dict(
        project=cfg.logger.project,
        entity=cfg.logger.entity,
        name=cfg.name,
        id=run_id,
        resume="allow",
        mode=mode,
        dir=str(Path(cfg.run_dir).resolve()),
        config=config_dict,
    )
    run = _init_when_free(wandb, init)
    # Globs by prefix: keys matching two globs would get either step metric (wandb picks no fixed one).
    run.define_metric("iteration")
    for prefix in (*dict.fromkeys(BASELINE_SEED_STAGES + META_LOOP_STAGES), "samples"):
        run.define_metric(f"{prefix}/*", step_metric="iteration")
    run.define_metric(TRAIN_STEP)
    run.define_metric("train/*", step_metric=TRAIN_STEP)
    return run


def _init_when_free(wandb, init: dict, wait_s: float = 120.0):
    """`wandb.init`, waiting while a killed driver's wandb service still holds the run id ("run ID ... is in use").

    wandb's service process outlives a SIGKILLed driver until it notices its parent is gone; resuming at once
    would otherwise fail on a run that is only being cleaned up.
    """
    deadline = time.time() + wait_s
    delay = 2.0
    while True:
        try:
            return wandb.init(**init)
        except Exception as e:  # noqa: BLE001 - wandb raises its own error types here
            if "is in use" not in str(e) or time.time() > deadline:
                raise
            print(
                f"[srlm] wandb run {init['id']} is still held by a stopped driver's wandb service; retrying",
                flush=True,
            )
            time.sleep(delay)
            delay = min(delay * 2, 15.0)


# ------------------------------------------------------------------------------------ per-step trainer logs


def append_step_event(path: Path, event: dict) -> None:
    """Append one trainer log event (with its `global_step`) to a stage's `steps.jsonl`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(event, default=float) + "\n")


def _step_lines(path: Path) -> list[dict]:
    """Complete events of a steps file; a line cut short by a kill, or no JSON object, is skipped."""
    events = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(event, dict) and isinstance(event.get("global_step"), int):
                events.append(event)
    return events


def keep_steps_upto(path: Path, step: int) -> None:
    """Cut a steps file down to the events of steps <= `step` (a trainer resumed from checkpoint `step`)."""
    path = Path(path)
    if not path.exists():
        return
    kept = [e for e in _step_lines(path) if e["global_step"] <= step]
    atomic_write_text(path, "".join(json.dumps(e) + "\n" for e in kept))


def read_step_events(path: Path) -> list[dict]:
    """One event per step, in step order: the events logged at a step merged, later values overriding earlier.

    A trainer logs its training values and, at the same step, any evaluation (`eval_*`) as separate events; an
    attempt resumed from a checkpoint logs the steps after it again (`StepLog` cuts the older copies off when
    training begins; merging here keeps a step once even without that). No file: no events.
    """
    path = Path(path)
    if not path.exists():
        return []
    by_step: dict[int, dict] = {}
    for event in _step_lines(path):
        by_step.setdefault(event["global_step"], {}).update(event)
    return [by_step[step] for step in sorted(by_step)]


def stage_steps_file(ipaths, stage: str) -> Path:
    """Where a training stage of an iteration keeps its per-step trainer logs."""
    return ipaths.baseline_steps if stage == "sft_baseline" else ipaths.train_steps


def train_step_offset(manifest, iteration: int, stage: str) -> int:
    """Optimizer steps of the training stages the run finished before `stage` of `iteration` (manifest `steps`).

    A stage's step s is run-wide step offset + s: the seed SFT's steps come first, then iteration 1's DPO, ...
    """
    order = {s: i for i, s in enumerate(TRAINING_STAGES)}
    total = 0
    for t in manifest.iterations():
        for name in TRAINING_STAGES:
            if (t, order[name]) >= (iteration, order.get(stage, len(order))):
                continue
            entry = manifest.stage(t, name)
            if entry.get("status") == "done":
                total += int(entry.get("metrics", {}).get("steps") or 0)
    return total


# ------------------------------------------------------------------------------------------- sample tables


def eval_answer_rows(ipaths, n: int) -> list[dict]:
    """Up to `n` eval prompts of iteration t >= 1: this iteration's answer, the previous model's, and the verdicts.

    `winner_ab` is the evaluator's verdict with this iteration's answer shown first (as A), `winner_ba` with it
    shown second: `new`, `previous`, or `none` (no verdict); `raw_ab` / `raw_ba` are the evaluator's outputs.
    Empty when the eval stage wrote no comparison with the previous model.
    """
    files = (ipaths.eval_responses, ipaths.previous.eval_responses, ipaths.eval_vs_previous)
    if ipaths.t < 1 or n <= 0 or not all(f.exists() for f in files):
        return []
    ours, theirs, judged = (read_jsonl(f) for f in files)
    previous = {r["prompt_id"]: r for r in theirs}
    verdicts = {r["id"]: r for r in judged}
    winners = {"ab": {"A": "new", "B": "previous"}, "ba": {"A": "previous", "B": "new"}}
    rows = []
    for r in ours:
        if r["prompt_id"] not in previous:
            continue
        row = {
            "prompt_id": r["prompt_id"],
            "prompt": r["prompt"],
            "answer": r["text"],
            "previous_answer": previous[r["prompt_id"]]["text"],
        }
        for order, names in winners.items():
            verdict = verdicts.get(f"vs_previous|{r['prompt_id']}|{order}", {})
            row[f"winner_{order}"] = names.get(verdict.get("verdict"), "none")
            row[f"raw_{order}"] = verdict.get("raw", "")
        rows.append(row)
        if len(rows) == n:
            break
    return rows
