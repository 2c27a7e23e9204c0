"""Ranks of a stage launched as several processes (torchrun / accelerate set RANK and WORLD_SIZE).

Generation stages shard their batches across ranks and meet at barriers. A barrier goes through the
launcher's key-value store (torchrun's agent store at MASTER_ADDR:MASTER_PORT, or the one srlm's driver hosts
for Ray replicas: SRLM_STORE_HOSTED=1), not through a process
group: a vLLM engine makes torch.distributed's default group its own (one process: a barrier on it would
not wait for the other ranks), and a barrier must hold while an engine is open. A single process needs none
of this.
"""

from __future__ import annotations

import itertools
import os
import sys
from datetime import timedelta

BARRIER_TIMEOUT = timedelta(hours=6)  # a rank's chunk can take long; a dead rank stops the launcher anyway

_store = None
_barriers = itertools.count(1)


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_rank_zero() -> bool:
    return rank() == 0


def _barrier_store():
    """A client of the launcher's store (torchrun's agent or srlm's driver hosts it); rank 0 hosts one where none
    does."""
    global _store
    if _store is None:
        from torch.distributed import TCPStore

        hosted = os.environ.get("TORCHELASTIC_USE_AGENT_STORE") == "True" or os.environ.get("SRLM_STORE_HOSTED") == "1"
        _store = TCPStore(
            os.environ["MASTER_ADDR"],
            int(os.environ["MASTER_PORT"]),
            world_size(),
            is_master=is_rank_zero() and not hosted,
            timeout=BARRIER_TIMEOUT,
        )
    return _store


def barrier() -> None:
    """Wait for every rank (no-op in a single process). Every rank calls the same barriers in the same order."""
    if world_size() <= 1:
        return
    store = _barrier_store()
    attempt = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")
    key = f"srlm/barrier/{attempt}/{next(_barriers)}"
    if store.add(key, 1) == world_size():
        store.set(f"{key}/all", "1")
    store.wait([f"{key}/all"])


def shutdown() -> None:
    """Tear down a process group left initialized in this process, if any."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def finish(code: int) -> int:
    """A stage process's exit code, once its process group is torn down. One of several ranks leaves at once
    (os._exit) with its outputs already written: left to the interpreter's teardown, the communication threads of
    DeepSpeed and gloo can abort a rank that finished ("terminate called without an active exception")."""
    shutdown()
    if world_size() > 1:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code
