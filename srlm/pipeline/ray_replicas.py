"""Inference replicas on every machine, placed by Ray (`launcher.inference_launcher=ray`).

The driver runs on machine 0 and joins a Ray cluster its user started (`ray start --head` there,
`ray start --address=HEAD:6379` on the others, or a cluster manager's equivalent). A sharded inference
stage then runs as `launcher.num_machines` x replicas-per-machine processes: one placement-group
bundle per machine (STRICT_SPREAD), and in each replica the stage's usual command with torchrun's rank
variables, so rows are sharded by rank and merged by rank 0 as under torchrun, and a killed stage
resumes the same way. The replicas meet at barriers in a key-value store the driver hosts for the
stage. Every machine sees the run directory and srlm's Python at the driver's paths (a shared file
system or one image, as DeepSpeed's multi-node launcher assumes).
"""

from __future__ import annotations

import ctypes
import itertools
import os
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass

FORWARDED_PREFIXES = ("SRLM_", "HF_", "WANDB_", "VLLM_", "TRANSFORMERS_", "TOKENIZERS_", "OMP_", "PYTHON")
PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class Replica:
    machine: int
    rank: int


def replicas(machines: int, per_machine: int) -> list[Replica]:
    """Every replica of a stage: machine m runs ranks m * per_machine ... (m + 1) * per_machine - 1."""
    return [Replica(m, m * per_machine + i) for m in range(machines) for i in range(per_machine)]


def describe(machines: int, per_machine: int) -> str:
    """One line naming each machine's ranks, for `--dry-run`."""
    spans = []
    for m, group in itertools.groupby(replicas(machines, per_machine), key=lambda r: r.machine):
        ranks = [r.rank for r in group]
        spans.append(f"machine {m}: rank(s) {ranks[0]}-{ranks[-1]}")
    return f"ray: {machines} machine(s) x {per_machine} replica(s) ({'; '.join(spans)})"


def unavailable_reason() -> str | None:
    try:
        import ray  # noqa: F401
    except ImportError:
        return "Ray is not installed: pip install 'srlm[ray]' on every machine"
    return None


def connect(address: str) -> None:
    """Join the Ray cluster at `address` ("auto": the one `ray start` made on this machine), once per process."""
    import ray

    if not ray.is_initialized():
        ray.init(address=address, log_to_driver=True, logging_level="WARNING")


def reachable(address: str, timeout_s: float = 5.0) -> bool:
    """Whether HOST:PORT accepts a connection (Ray's own connect retries for minutes before it gives up)."""
    host, _, port = address.rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except (OSError, ValueError):
        return False
    return True


def cluster_problems(cfg) -> list[str]:
    """Why the stages cannot be placed on `launcher.num_machines` machines of the cluster (empty: they can)."""
    reason = unavailable_reason()
    if reason:
        return [reason]
    lc = cfg.launcher
    if lc.ray_address != "auto" and not reachable(lc.ray_address):
        return [f"`launcher.ray_address`: nothing answers at {lc.ray_address} (expected a Ray head's HOST:PORT)"]
    try:
        connect(lc.ray_address)
    except (ConnectionError, RuntimeError, ValueError) as e:
        return [f"no Ray cluster at `launcher.ray_address` {lc.ray_address} ({str(e).splitlines()[0]})"]
    import ray

    alive = [n for n in ray.nodes() if n.get("Alive")]
    if len(alive) < lc.num_machines:
        return [f"`launcher.num_machines` is {lc.num_machines} but the Ray cluster has {len(alive)} machine(s)"]
    return []


def bundle(per_machine: int, gpus_per_replica: int, on_gpu: bool) -> dict:
    return {"GPU": per_machine * gpus_per_replica} if on_gpu else {"CPU": per_machine}


def forwarded_environment() -> dict[str, str]:
    """The driver's variables every replica needs (Ray's workers start from their raylet's environment)."""
    return {k: v for k, v in os.environ.items() if k.startswith(FORWARDED_PREFIXES)}


def die_with_parent() -> None:
    """In the replica's child: end when the Ray worker running it ends (a cancelled stage, a dead driver)."""
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def run_replica(cmd: list[str], env: dict[str, str]) -> int:
    """Body of one replica's Ray task: the stage's command, on the devices Ray gave this task."""
    inherited = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}  # Ray caps it at the task's CPUs
    return subprocess.run(cmd, env=inherited | env, preexec_fn=die_with_parent, check=False).returncode


def run_stage(cmd: list[str], cfg, per_machine: int) -> int:
    """Run `cmd` as every replica of a stage across the cluster; the first non-zero exit code, or 0.

    A replica that fails ends the others (they would wait at the next barrier for it)."""
    import ray
    from ray.util.placement_group import placement_group, remove_placement_group
    from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy
    from torch.distributed import TCPStore

    lc, tp = cfg.launcher, cfg.generation.tensor_parallel_size
    connect(lc.ray_address)
    on_gpu = ray.cluster_resources().get("GPU", 0) > 0
    host = lc.main_process_ip or ray.util.get_node_ip_address()
    store = TCPStore(host, 0, is_master=True, wait_for_workers=False)  # the stage's barriers
    group = placement_group([bundle(per_machine, tp, on_gpu)] * lc.num_machines, strategy="STRICT_SPREAD")
    ray.get(group.ready())
    world = lc.num_machines * per_machine
    machines = ray.util.placement_group_table(group)["bundles_to_node_id"]
    print(f"[srlm] {world} replica(s); Ray node of machine 0, 1, ...: {', '.join(machines.values())}", flush=True)
    task = ray.remote(run_replica)
    common = {**forwarded_environment(), "WORLD_SIZE": str(world), "MASTER_ADDR": host, "MASTER_PORT": str(store.port)}
    common |= {"LOCAL_WORLD_SIZE": "1", "SRLM_STORE_HOSTED": "1"}  # each replica alone on the devices Ray gave it
    running = []
    for r in replicas(lc.num_machines, per_machine):
        options = {"num_gpus": tp} if on_gpu else {"num_cpus": 1}
        options["max_retries"] = 0  # a failed replica fails the stage; resuming it is the driver's work
        strategy = PlacementGroupSchedulingStrategy(group, placement_group_bundle_index=r.machine)
        env = {**common, "RANK": str(r.rank), "LOCAL_RANK": "0"}
        running.append(task.options(scheduling_strategy=strategy, **options).remote(cmd, env))
    try:
        return wait_all(running)
    finally:
        # Removing the group kills the replicas still running in it. Not ray.cancel: a cancel racing with a
        # replica's own end aborts this process inside Ray ("Tried to complete task that was not pending").
        remove_placement_group(group)
        del store


def wait_all(refs: list) -> int:
    """Exit codes as replicas finish; on the first failure, the failing code (the caller ends the rest)."""
    import ray

    pending = refs
    while pending:
        done, pending = ray.wait(pending, num_returns=1)
        try:
            code = ray.get(done[0])
        except ray.exceptions.RayError as e:
            print(f"[srlm] a replica's Ray task failed: {e}", file=sys.stderr)
            return 1
        if code != 0:
            return code
    return 0
