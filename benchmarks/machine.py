"""The machine a benchmark ran on: a short name for the results file and the facts that explain its numbers."""

from __future__ import annotations

import os
import platform
import re
import socket

import torch


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo on Linux, else platform)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_count() -> int:
    """CPUs this process may use (the affinity mask where there is one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def slug(text: str, max_len: int = 24) -> str:
    """Lower-case dash-separated words of `text`, without vendor noise, cut to `max_len`."""
    text = re.sub(r"\((r|tm)\)|\bcpu\b|\bprocessor\b|@.*$|\bwith\b.*$", " ", text, flags=re.IGNORECASE)
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:max_len].strip("-") or "unknown"


def device_name() -> str:
    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"


def machine_name() -> str:
    """`cpu<N>-<cpu model>`, or `gpu<N>-<gpu model>` where CUDA is visible."""
    if torch.cuda.is_available():
        return f"gpu{torch.cuda.device_count()}-{slug(device_name())}"
    return f"cpu{cpu_count()}-{slug(cpu_model())}"


def machine_info() -> dict:
    """Versions, CPU, device and threads: what the numbers depend on."""
    import transformers
    import trl

    return {
        "name": machine_name(),
        "hostname": socket.gethostname(),
        "device": "cuda" if torch.cuda.is_available() else "cpu",
        "device_name": device_name(),
        "cuda_devices": torch.cuda.device_count() if torch.cuda.is_available() else 0,
        "cpu_model": cpu_model(),
        "cpu_count": cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "trl": trl.__version__,
    }
