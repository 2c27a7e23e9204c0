"""Two processes (torchrun, gloo) on the CPU: sharded generate and judge, DDP dpo, rank discipline.

Both runs start from the same seed iteration (SFT done once, copied), then do iteration 1: one with
every stage in the driver's process, one with generate, judge and dpo under `torchrun --nproc_per_node 2`.
Both use one thread per process, so the two differ only in the number of processes.
"""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from srlm.core.io import read_jsonl

AUDIT = Path(__file__).parent / "write_audit"
ARGS = ["recipe=smoke", "eval.enabled=false", "prompts.per_iteration=6", "resume.allow_config_change=true"]


def srlm_command(run_dir: Path, *overrides: str) -> list[str]:
    return [sys.executable, "-m", "srlm", "run", *ARGS, f"run_dir={run_dir}", *overrides]


def one_thread_env(env: dict | None = None) -> dict:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SRLM_KILL", "SRLM_WRITE"))}
    return {**base, "OMP_NUM_THREADS": "1", **(env or {})}


def srlm_run(run_dir: Path, *overrides: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(srlm_command(run_dir, *overrides), env=one_thread_env(env), capture_output=True, text=True)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """(one-process run, two-process run, write audit dir) after iteration 1."""
    root = tmp_path_factory.mktemp("dist")
    single, double, audit = root / "single", root / "double", root / "audit"
    audit.mkdir()
    seed = srlm_run(single, "num_iterations=0", "launcher=inprocess")
    assert seed.returncode == 0, seed.stderr[-3000:]
    shutil.copytree(single, double)
    shutil.copytree(single, root / "seed")
    one = srlm_run(single, "num_iterations=1", "launcher=inprocess")
    assert one.returncode == 0, one.stderr[-3000:]
    env = {
        "SRLM_WRITE_AUDIT": str(audit),
        "PYTHONPATH": os.pathsep.join([str(AUDIT), os.environ.get("PYTHONPATH", "")]),
    }
    two = srlm_run(double, "num_iterations=1", "launcher=torchrun", "launcher.num_processes=2", env=env)
    assert two.returncode == 0, two.stderr[-3000:]
    return single, double, audit


def audited_writes(audit: Path, rank: str) -> list[str]:
    return [line.split("\t", 1)[1] for log in audit.glob(f"rank{rank}-*.log") for line in log.read_text().splitlines()]


@pytest.mark.slow
def test_two_processes_generate_and_judge_exactly_what_one_does(runs):
    single, double, _ = runs
    prompts = read_jsonl(double / "iteration_1" / "prompts.jsonl")
    candidates = read_jsonl(double / "iteration_1" / "candidates.jsonl")
    ids = [c["candidate_id"] for c in candidates]
    assert len(ids) == len(set(ids)) == 2 * len(prompts)  # every prompt generated exactly once, N=2 each
    assert [c["prompt_id"] for c in candidates[::2]] == [p["prompt_id"] for p in prompts]
    for name in ("candidates.jsonl", "judgments.jsonl", "pairs.jsonl"):
        assert (double / "iteration_1" / name).read_bytes() == (single / "iteration_1" / name).read_bytes(), name
    assert not list((double / "iteration_1").glob("*.partial"))


@pytest.mark.slow
def test_two_process_dpo_trains_and_saves_once(runs):
    _, double, audit = runs
    model = double / "iteration_1" / "dpo" / "model"
    assert (model / "config.json").exists() and (model / "model.safetensors").exists()
    assert not (model.parent / "model.tmp").exists()
    rank0 = audited_writes(audit, "0")
    assert any(p.startswith(str(model)) for p in rank0)
    assert not any(p.startswith(str(model)) for p in audited_writes(audit, "1"))


@pytest.mark.slow
def test_rank_one_writes_only_its_own_shards(runs):
    _, double, audit = runs
    rank1 = [p for p in audited_writes(audit, "1") if p.startswith(str(double))]
    assert any(".rank1.partial" in p for p in rank1)  # it did write its shards
    own = [p for p in rank1 if ".rank1.partial" in p or Path(p).name == "rng_state_1.pth"]
    assert rank1 == own, sorted(set(rank1) - set(own))
    driver_files = ("manifest.json", "metrics.jsonl", "config.yaml")
    assert not any(Path(p).name.startswith(driver_files) for p in audited_writes(audit, "0") + rank1)


@pytest.mark.slow
def test_a_rank_killed_mid_generate_fails_the_stage_and_the_run_resumes_to_the_same_rows(tmp_path, runs):
    single, _, _ = runs
    run_dir = tmp_path / "run"
    shutil.copytree(single.parent / "seed", run_dir)
    two = ("num_iterations=1", "launcher=torchrun", "launcher.num_processes=2")
    killed = srlm_run(run_dir, *two, env={"SRLM_KILL_AT": "candidates.jsonl:2:torn", "SRLM_KILL_RANK": "1"})
    assert killed.returncode != 0
    assert "stage generate of iteration 1 failed" in killed.stderr
    assert (run_dir / "iteration_1" / "candidates.jsonl.rank1.partial").exists()
    resumed = srlm_run(run_dir, *two)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    for name in ("candidates.jsonl", "judgments.jsonl"):
        assert (run_dir / "iteration_1" / name).read_bytes() == (single / "iteration_1" / name).read_bytes(), name


@pytest.mark.slow
def test_two_process_dpo_killed_after_a_checkpoint_resumes_from_it(tmp_path, runs):
    _, double, _ = runs
    run_dir = tmp_path / "run"
    shutil.copytree(double, run_dir)  # the two-process run of iteration 1 with its DPO model gone: DPO is redone
    shutil.rmtree(run_dir / "iteration_1" / "dpo")
    two = ("num_iterations=1", "launcher=torchrun", "launcher.num_processes=2", "dpo.max_steps=3")
    killed = srlm_run(run_dir, *two, env={"SRLM_KILL_AT": "dpo:1", "SRLM_KILL_RANK": "0"})
    assert "stage dpo of iteration 1 failed" in killed.stderr
    checkpoints = run_dir / "iteration_1" / "dpo" / "checkpoints"
    assert [p.name for p in checkpoints.glob("checkpoint-*")] == ["checkpoint-1"]
    resumed = srlm_run(run_dir, *two)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    metrics = json.loads((run_dir / "iteration_1" / ".dpo.metrics.json").read_text())
    assert (metrics["resumed_from_step"], metrics["steps"]) == (1, 3)


@pytest.fixture
def two_machines():
    """A Ray cluster of two machines on this one (Ray's own test cluster: a head and a second node)."""
    from ray.cluster_utils import Cluster

    node = {"num_cpus": 1, "object_store_memory": 80 * 1024**2}
    cluster = Cluster(initialize_head=True, head_node_args={**node, "include_dashboard": False})
    cluster.add_node(**node)
    yield cluster.address
    cluster.shutdown()


def processes_of(run_dir: Path) -> set[int]:
    found = subprocess.run(["pgrep", "-f", str(run_dir)], capture_output=True, text=True).stdout.split()
    return {int(pid) for pid in found}


def kill_the_driver_once_its_replicas_run(run_dir: Path, *overrides: str) -> None:
    """SIGKILL `srlm run` itself once its Ray replicas' stage processes run: they must end with it and leave the
    cluster's CPUs to the next run (its placement group goes with the dead driver's job)."""
    driver = subprocess.Popen(srlm_command(run_dir, *overrides), env=one_thread_env(), stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not processes_of(run_dir) - {driver.pid}:  # the replicas' commands name the run directory too
        assert driver.poll() is None and time.monotonic() < deadline, "no replica started"
        time.sleep(0.2)
    driver.kill()
    driver.wait()
    deadline = time.monotonic() + 60
    while processes_of(run_dir):
        assert time.monotonic() < deadline, "a replica outlived its SIGKILLed driver by 60 s"
        time.sleep(1)


@pytest.mark.slow
def test_ray_replicas_on_two_machines_killed_and_resumed_give_the_rows_of_one_process(tmp_path, runs, two_machines):
    single, _, _ = runs
    run_dir = tmp_path / "run"
    shutil.copytree(single.parent / "seed", run_dir)
    ray = ("num_iterations=1", "launcher.inference_launcher=ray", "launcher.num_machines=2")
    ray += (f"launcher.ray_address={two_machines}",)
    killed = srlm_run(run_dir, *ray, env={"SRLM_KILL_AT": "judgments.jsonl:2:torn", "SRLM_KILL_RANK": "1"})
    assert killed.returncode != 0
    assert "stage judge of iteration 1 failed" in killed.stderr, killed.stderr[-3000:]
    placed = [line for line in killed.stdout.splitlines() if "replica(s); Ray node of machine 0, 1" in line]
    assert len(set(placed[0].split(": ")[-1].split(", "))) == 2, placed  # one replica on each machine
    assert (run_dir / "iteration_1" / "judgments.jsonl.rank1.partial").exists()
    kill_the_driver_once_its_replicas_run(run_dir, *ray)
    resumed = srlm_run(run_dir, *ray)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    for name in ("candidates.jsonl", "judgments.jsonl", "pairs.jsonl"):
        assert (run_dir / "iteration_1" / name).read_bytes() == (single / "iteration_1" / name).read_bytes(), name
