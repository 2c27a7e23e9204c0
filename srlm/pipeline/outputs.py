"""What a finished stage wrote, and whether it is still there unchanged.

A stage's outputs are the files under the run's `iteration_*` folders that it created or rewrote (seen by
comparing size and modification time before and after it ran), minus working files: trainer checkpoints,
`.partial` rows and hidden files. Each gets a fingerprint: the sha256 of the whole file, or for files over
`WHOLE_FILE_LIMIT` (model weights) the sha256 of its size and its first and last MiB, so that checking a
70B run's weights at every start costs milliseconds, not minutes. Paths are relative to the run directory,
so a run directory copied elsewhere still checks.
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

WHOLE_FILE_LIMIT = 64 * 2**20
END_BYTES = 2**20
WORKING_PARTS = ("checkpoints",)
SET_ASIDE_DIR = "set_aside"


def _is_output(rel: Path) -> bool:
    return not (
        any(part in WORKING_PARTS or part.startswith(".") for part in rel.parts) or rel.suffix in (".partial", ".tmp")
    )


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Relative path -> (size, mtime_ns) of every output-like file under `root/iteration_*`."""
    root = Path(root)
    found = {}
    for iteration in root.glob("iteration_*"):
        for p in iteration.rglob("*"):
            rel = p.relative_to(root)
            if _is_output(rel) and p.is_file():
                st = p.stat()
                found[rel.as_posix()] = (st.st_size, st.st_mtime_ns)
    return found


def written_since(before: dict[str, tuple[int, int]], root: Path) -> list[str]:
    """Files created or rewritten since `before` was taken."""
    return sorted(rel for rel, stat in snapshot(root).items() if before.get(rel) != stat)


def fingerprint(path: Path) -> str:
    size = path.stat().st_size
    h = hashlib.sha256()
    with open(path, "rb") as f:
        if size <= WHOLE_FILE_LIMIT:
            for block in iter(lambda: f.read(2**20), b""):
                h.update(block)
            return h.hexdigest()
        h.update(str(size).encode())
        h.update(f.read(END_BYTES))
        f.seek(size - END_BYTES)
        h.update(f.read(END_BYTES))
    return f"ends:{h.hexdigest()}"


def record(root: Path, rels: list[str]) -> dict[str, str]:
    return {rel: fingerprint(Path(root) / rel) for rel in rels}


def problems(root: Path, recorded: dict[str, str]) -> list[str]:
    """`REL missing` / `REL changed` for each recorded output that is not as the stage left it."""
    found = []
    for rel, fp in recorded.items():
        path = Path(root) / rel
        if not path.is_file():
            found.append(f"{rel} missing")
        elif fingerprint(path) != fp:
            found.append(f"{rel} changed")
    return found


def set_aside(root: Path, rels: list[str], label: str) -> Path | None:
    """Move the existing files among `rels` to `root/set_aside/<time>-<label>/` (nothing is deleted); its path."""
    root = Path(root)
    present = [rel for rel in rels if (root / rel).is_file()]
    if not present:
        return None
    dest = root / SET_ASIDE_DIR / f"{time.strftime('%Y%m%d-%H%M%S')}-{label}"
    for rel in present:
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(root / rel, target)
    return dest
