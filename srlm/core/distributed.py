"""Ranks of a stage launched as several processes (torchrun / accelerate set RANK and WORLD_SIZE).

Generation stages shard their batches across ranks and meet at barriers; the process group is
created on first use (gloo: it only carries barriers). A single process needs none of this.
"""

from __future__ import annotations

import os


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_rank_zero() -> bool:
    return rank() == 0


def _process_group() -> None:
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group("gloo")  # barriers only: no device of a vLLM replica's is touched


def barrier() -> None:
    """Wait for every rank (no-op in a single process)."""
    if world_size() > 1:
        import torch.distributed as dist

        _process_group()
        dist.barrier()


def shutdown() -> None:
    """Tear down the process group this module created, if any."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
