"""Disk: what a run keeps, and how much it takes.

A trainer checkpoint holds the weights and the optimizer state (a 70B model: ~140 GB of bf16 weights plus ~840 GB
of float32 master weights and AdamW moments). The trainer keeps `save_total_limit` of them while a stage runs, the
resume points; once the driver has recorded the stage's final model they are removed, unless
`disk.keep_checkpoints`. Outputs set aside when a stage is redone (`srlm.pipeline.outputs.set_aside`) are kept up to
`disk.max_set_aside` folders, the newest; older ones are deleted as new ones come.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from srlm.pipeline.outputs import SET_ASIDE_DIR


def checkpoints_dir(ipaths, stage: str) -> Path:
    """Where a training stage of an iteration keeps its trainer checkpoints."""
    return (ipaths.baseline_dir if stage == "sft_baseline" else ipaths.train_dir) / "checkpoints"


def prune_checkpoints(ipaths, stage: str, keep: bool) -> int:
    """Remove a finished training stage's trainer checkpoints (unless `keep`); the bytes freed."""
    folder = checkpoints_dir(ipaths, stage)
    if keep or not folder.is_dir():
        return 0
    size = tree_bytes(folder)
    shutil.rmtree(folder)
    return size


def cap_set_aside(root: Path, max_folders: int | None) -> list[Path]:
    """Delete the oldest set-aside folders beyond `max_folders` (None: keep all); the folders deleted."""
    parent = Path(root) / SET_ASIDE_DIR
    if max_folders is None or not parent.is_dir():
        return []
    # named <YYYYmmdd-HHMMSS>-<label>: by that time, then (within a second) by when they were made
    folders = sorted((p for p in parent.iterdir() if p.is_dir()), key=lambda p: (p.name[:15], p.stat().st_mtime_ns))
    removed = folders[: max(len(folders) - max_folders, 0)]
    for folder in removed:
        shutil.rmtree(folder)
    return removed


def tree_bytes(path: Path) -> int:
    """Bytes of the files under `path` (links not followed)."""
    path = Path(path)
    if path.is_file():
        return path.stat().st_size
    return sum(p.lstat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def usage(root: Path) -> dict[str, int]:
    """Bytes of a run directory by part: each iteration (trainer checkpoints apart), set-aside outputs, the rest."""
    root = Path(root)
    parts: dict[str, int] = {}
    for child in sorted(root.iterdir()):
        if child.name.startswith("iteration_") and child.is_dir():
            checkpoints = sum(tree_bytes(c) for c in child.glob("*/checkpoints"))
            parts[child.name] = tree_bytes(child) - checkpoints
            parts[f"{child.name} checkpoints"] = checkpoints
        elif child.name == SET_ASIDE_DIR:
            parts["set aside"] = tree_bytes(child)
        else:
            parts["other"] = parts.get("other", 0) + tree_bytes(child)
    parts["total"] = sum(parts.values())
    return {k: v for k, v in parts.items() if v or k == "total"}


def human(n: int) -> str:
    """A byte count as B, KiB, MiB, GiB or TiB."""
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"


def usage_lines(root: Path) -> list[str]:
    """`disk: total (part size, ...)` for `srlm status`."""
    parts = usage(root)
    total = parts.pop("total")
    return [
        f"disk: {human(total)}" + (f" ({', '.join(f'{k} {human(v)}' for k, v in parts.items())})" if parts else "")
    ]
