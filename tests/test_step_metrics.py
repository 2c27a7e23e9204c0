"""Per-step trainer metrics reach metrics.jsonl and wandb once per step, across a kill and resume; eval answer tables.

One smoke run (2 iterations, wandb offline) is SIGKILLed right after the first DPO checkpoint, left with a stale
step event beyond that checkpoint and a torn line (as a kill between a log and the next checkpoint leaves them),
and resumed. The wandb offline run files are read back with the record format of wandb's transaction log.
"""

import json
import signal
import struct
from collections import defaultdict
from pathlib import Path

import conftest
import pytest

from srlm.core.io import read_jsonl
from srlm.pipeline.manifest import Manifest
from srlm.reporting.tracking import keep_steps_upto, read_step_events, train_step_offset

ARGS = ["recipe=smoke", "logger=wandb", "eval.rewardbench=null"]
STALE_LOSS = 123.0


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("steps") / "run"
    killed = conftest.srlm_run(ARGS, run_dir, kill_at="dpo:1")
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    steps = run_dir / "iteration_1" / "dpo" / "steps.jsonl"
    assert [e["global_step"] for e in read_jsonl(steps)] == [1]
    with open(steps, "a") as f:
        f.write(json.dumps({"global_step": 2, "loss": STALE_LOSS}) + "\n" + '{"global_step": 3, "lo')
    resumed = conftest.srlm_run(ARGS, run_dir)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    return run_dir


def step_events(run_dir: Path) -> list[dict]:
    return [e for e in read_jsonl(run_dir / "metrics.jsonl") if "train_step" in e]


@pytest.mark.slow
def test_every_step_once_in_metrics_jsonl(run_dir):
    manifest = Manifest.load(run_dir / "manifest.json")
    assert manifest.stage(1, "dpo")["metrics"]["resumed_from_step"] == 1  # the resume really started mid-stage
    events = step_events(run_dir)
    steps = defaultdict(list)
    for e in events:
        steps[(e["iteration"], e["stage"])].append(e["step"])
    assert dict(steps) == {(0, "sft"): [1, 2], (1, "dpo"): [1, 2], (2, "dpo"): [1, 2]}
    assert [e["train_step"] for e in events] == [1, 2, 3, 4, 5, 6]  # one axis across iterations, in run order
    for e in events:
        assert isinstance(e["loss"], float) and e["loss"] != STALE_LOSS, e
        assert {"learning_rate", "grad_norm", "epoch"} <= set(e), e
        assert "train_runtime" not in e and "train_loss" not in e  # the end-of-training summary is no step
    for e in events:
        if e["stage"] == "dpo":
            assert {"rewards/margins", "rewards/accuracies", "rewards/chosen", "rewards/rejected"} <= set(e), e
    # the stage's own summary agrees with its last step
    last = [e for e in events if (e["iteration"], e["stage"]) == (2, "dpo")][-1]
    assert manifest.stage(2, "dpo")["metrics"]["loss"] == last["loss"]
    assert [e["global_step"] for e in read_jsonl(run_dir / "iteration_1" / "dpo" / "steps.jsonl")] == [1, 2]


# ------------------------------------------------------------------------------------- wandb offline files


def wandb_records(path: Path):
    """Records of a wandb transaction log (`run-<id>.wandb`): LevelDB log blocks of protobuf `Record`s."""
    from wandb.proto import wandb_internal_pb2 as pb

    data, block, pos, buf = path.read_bytes(), 32768, 7, b""  # a 7-byte file header, then 32 KiB blocks
    while pos + 7 <= len(data):
        left = block - pos % block
        _, length, kind = struct.unpack("<IHB", data[pos : pos + 7]) if left >= 7 else (0, 0, 0)
        if left < 7 or (length == 0 and kind == 0):
            pos += left  # block trailer or zero padding
            continue
        if pos + 7 + length > len(data):
            break  # cut short by the kill
        chunk, pos = data[pos + 7 : pos + 7 + length], pos + 7 + length
        buf = chunk if kind in (1, 2) else buf + chunk  # full, first | middle, last
        if kind in (1, 4):
            record = pb.Record()
            record.ParseFromString(buf)
            yield record


def wandb_run(run_dir: Path) -> tuple[list[dict], dict[str, str]]:
    """History rows of every offline run of the experiment (the killed driver's, then the resumed one's), and the
    step metric defined for each glob."""
    rows, globs = [], {}
    for path in sorted(run_dir.glob("wandb/offline-run-*/run-*.wandb")):
        for record in wandb_records(path):
            kind = record.WhichOneof("record_type")
            if kind == "history":
                rows.append({"/".join(i.nested_key) or i.key: json.loads(i.value_json) for i in record.history.item})
            elif kind == "metric" and record.metric.glob_name:
                globs[record.metric.glob_name] = record.metric.step_metric
    return rows, globs


@pytest.mark.slow
def test_steps_in_wandb_on_their_own_axis(run_dir):
    rows, globs = wandb_run(run_dir)
    assert globs["train/*"] == "train/step"
    assert "*" not in globs and globs["dpo/*"] == globs["eval/*"] == globs["samples/*"] == "iteration"
    step_rows = [r for r in rows if "train/step" in r]
    # each step at most once over both driver processes; what the killed driver logged (the seed SFT's steps) may
    # not have reached its file before the kill, what the resumed one logged is all there
    logged = [r["train/step"] for r in step_rows]
    assert logged in ([1, 2, 3, 4, 5, 6], [3, 4, 5, 6]), logged
    assert not any(k.startswith("train/") for r in rows if "train/step" not in r for k in r)
    assert not any("iteration" in r for r in step_rows)  # not on the per-iteration axis
    events = {e["train_step"]: e for e in step_events(run_dir)}
    for row in step_rows:
        event = events[row["train/step"]]
        assert row["train/iteration"] == event["iteration"]
        assert row[f"train/{event['stage']}/loss"] == event["loss"]
        if event["stage"] == "dpo":
            assert row["train/dpo/rewards/margins"] == event["rewards/margins"]


@pytest.mark.slow
def test_eval_answers_table_per_iteration(run_dir):
    rows, _ = wandb_run(run_dir)
    tables = {r["iteration"]: r["samples/eval_answers/path"] for r in rows if "samples/eval_answers/path" in r}
    assert sorted(tables) == [1, 2]
    for t, table_path in tables.items():
        files = list(run_dir.glob(f"wandb/offline-run-*/files/{table_path}"))
        assert len(files) == 1, table_path
        table = json.loads(files[0].read_text())
        assert table["columns"] == [
            "prompt_id",
            "prompt",
            "answer",
            "previous_answer",
            "winner_ab",
            "raw_ab",
            "winner_ba",
            "raw_ba",
        ]
        got = [dict(zip(table["columns"], row)) for row in table["data"]]
        ours = {r["prompt_id"]: r for r in read_jsonl(run_dir / f"iteration_{t}" / "eval_responses.jsonl")}
        theirs = {r["prompt_id"]: r for r in read_jsonl(run_dir / f"iteration_{t - 1}" / "eval_responses.jsonl")}
        verdicts = {r["id"]: r for r in read_jsonl(run_dir / f"iteration_{t}" / "eval_vs_previous.jsonl")}
        assert sorted(r["prompt_id"] for r in got) == sorted(ours)  # 4 eval prompts, under logger.table_rows
        for r in got:
            assert r["answer"] == ours[r["prompt_id"]]["text"]
            assert r["previous_answer"] == theirs[r["prompt_id"]]["text"]
            assert r["prompt"] == ours[r["prompt_id"]]["prompt"]
            ab, ba = (verdicts[f"vs_previous|{r['prompt_id']}|{o}"] for o in ("ab", "ba"))
            # `ab`: this iteration's answer shown first (as A); `ba`: shown second
            assert r["winner_ab"] == {"A": "new", "B": "previous"}[ab["verdict"]]
            assert r["winner_ba"] == {"A": "previous", "B": "new"}[ba["verdict"]]
            assert (r["raw_ab"], r["raw_ba"]) == (ab["raw"], ba["raw"])


# -------------------------------------------------------------------------------------------- the helpers


def test_step_file_keeps_one_event_per_step(tmp_path):
    path = tmp_path / "steps.jsonl"
    lines = [
        {"global_step": 1, "loss": 1.0},
        {"global_step": 2, "loss": 0.9},
        {"global_step": 2, "eval_loss": 0.95},  # an evaluation logged at the same step
        {"global_step": 3, "loss": 0.8},
        {"global_step": 2, "loss": 0.7},  # step 2 again, from an attempt resumed at checkpoint 1
    ]
    path.write_text("".join(json.dumps(e) + "\n" for e in lines) + '{"global_step": 4, "lo')
    assert read_step_events(path) == [
        {"global_step": 1, "loss": 1.0},
        {"global_step": 2, "loss": 0.7, "eval_loss": 0.95},
        {"global_step": 3, "loss": 0.8},
    ]
    keep_steps_upto(path, 1)
    assert read_jsonl(path) == [{"global_step": 1, "loss": 1.0}]
    keep_steps_upto(path, 0)
    assert path.read_text() == ""
    assert read_step_events(tmp_path / "missing.jsonl") == []


def test_train_step_offset_counts_earlier_training_stages(tmp_path):
    manifest = Manifest.load_or_create(tmp_path / "manifest.json", "hash")
    for t, stage, steps in ((0, "sft_baseline", 5), (0, "eft", 99), (0, "sft", 7), (1, "dpo", 3), (2, "dpo", 4)):
        manifest.set_stage(t, stage, "done", metrics={"steps": steps})
    manifest.set_stage(3, "dpo", "running")
    assert train_step_offset(manifest, 0, "sft_baseline") == 0
    assert train_step_offset(manifest, 0, "sft") == 5
    assert train_step_offset(manifest, 1, "dpo") == 12
    assert train_step_offset(manifest, 2, "dpo") == 15
    assert train_step_offset(manifest, 3, "dpo") == 19


@pytest.mark.slow
def test_the_learning_rate_schedule_decays_towards_min_lr(run_dir):
    """Each stage's cosine schedule runs from the peak to the configured floor, the resumed DPO stage included.

    The trainer logs the rate each step used; with two steps the second is taken halfway through the schedule,
    where a cosine stands at the mean of peak and floor (without the floor it would be half the peak).
    """
    from omegaconf import OmegaConf

    cfg = OmegaConf.load(run_dir / "config.yaml")
    rates = defaultdict(list)
    for e in step_events(run_dir):
        rates[(e["iteration"], e["stage"])].append(e["learning_rate"])
    assert len(rates) == 3
    for (iteration, stage), lrs in rates.items():
        stage_cfg = cfg[stage]
        assert stage_cfg.lr_scheduler_type == "cosine_with_min_lr" and len(lrs) == 2
        assert lrs[0] == pytest.approx(stage_cfg.learning_rate, rel=1e-9), (iteration, stage, lrs)
        assert lrs[1] == pytest.approx((stage_cfg.learning_rate + stage_cfg.min_lr) / 2, rel=1e-9), (stage, lrs)
