"""Crash-safe file I/O: atomic writes, and JSONL files that survive a kill mid-line.

Finished files are written to a temporary name and renamed into place. Stages that produce rows
append them to `<file>.partial` (flushed and fsynced per batch) and write `<file>` from it when done,
so a killed stage resumes from the rows it already wrote.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from srlm.core import distributed, faults
from srlm.core.errors import SrlmError


def file_mode() -> int:
    """The mode `open()` gives a new file under this process's umask (tempfile's are 0600 whatever the umask)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def share_as_umask_allows(directory: Path) -> None:
    """Give every file under `directory` the mode the umask allows (saved checkpoints' weights come as 0600)."""
    mode = file_mode()
    for p in Path(directory).rglob("*"):
        if p.is_file():
            p.chmod(mode)


def atomic_write_text(path: Path, text: str) -> None:
    """Write `text` to `path` via a temporary file in the same directory and an atomic rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.fchmod(fd, file_mode())
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")


def read_json(path: Path) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise SrlmError(f"{path}: line {e.lineno}: not valid JSON ({e.msg})") from None


def write_jsonl(path: Path, rows: Iterable[dict]) -> None:
    atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


def utf8_line(raw: bytes, path, lineno: int) -> str:
    """One line of a text file as str; bytes that are not UTF-8 are an error naming file, line and column."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise SrlmError(
            f"{path}:{lineno}: not UTF-8 text (byte 0x{raw[e.start]:02x} at column {e.start + 1}); "
            "save the file as UTF-8"
        ) from None


def read_text(path: Path) -> str:
    """A whole UTF-8 text file; bytes that are not UTF-8 are an error naming file, line and column."""
    return "".join(
        utf8_line(raw, path, lineno) for lineno, raw in enumerate(Path(path).read_bytes().splitlines(True), 1)
    )


def read_jsonl(path: Path) -> list[dict]:
    """Read a finished JSONL file; a malformed line is an error naming file and line."""
    rows = []
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            line = utf8_line(raw, path, lineno)
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise SrlmError(f"{path}:{lineno}: not valid JSON ({e.msg})") from None
            if not isinstance(row, dict):
                raise SrlmError(f"{path}:{lineno}: expected a JSON object, got {type(row).__name__}")
            rows.append(row)
    return rows


class RowWriter:
    """Appends rows to `<path>.partial`; `finish()` writes `path`.

    On open, rows already in the partial file are loaded (`self.rows`) and a half-written last
    line, left by a kill, is cut off so that it is redone.

    In a stage run as several processes, rank `r` appends to `<path>.rank<r>.partial`; every rank
    also loads the rows of the other partial files (left by an attempt with another number of
    processes), so nothing finished is redone. `finish()` is a barrier: rank 0 merges all partial
    files in one fixed order and writes `path`, the other ranks then read it.
    """

    def __init__(self, path: Path, rank: int = 0, world_size: int = 1):
        self.path = Path(path)
        self.rank, self.world_size = rank, world_size
        suffix = ".partial" if world_size == 1 else f".rank{rank}.partial"
        self.partial = self.path.with_name(self.path.name + suffix)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        own = _recover_rows(self.partial, truncate=True)
        distributed.barrier()
        others = [r for p in self._partials() if p != self.partial for r in _recover_rows(p, truncate=False)]
        self.rows: list[dict] = others + own
        self._file = open(self.partial, "a", encoding="utf-8")

    def _partials(self) -> list[Path]:
        """Every partial file of `path`: the single-process one, then the ranks' in rank order."""
        ranked = self.path.parent.glob(f"{self.path.name}.rank*.partial")
        plain = self.path.with_name(self.path.name + ".partial")
        return [p for p in [plain] if p.exists()] + sorted(ranked, key=lambda p: int(p.name.split(".rank")[-1][:-8]))

    def write(self, rows: Iterable[dict]) -> None:
        """Append rows and make them durable before returning."""
        rows = list(rows)
        for row in rows:
            self._file.write(json.dumps(row, ensure_ascii=False) + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())
        self.rows.extend(rows)
        faults.after_rows(self.path, len(self.rows), self._file)

    def finish(self, order: Callable[[dict], Any] | None = None) -> list[dict]:
        """Write `path` from every partial file, rows sorted by `order` (else in file order)."""
        self._file.close()
        distributed.barrier()
        if self.rank == 0:
            partials = self._partials()
            rows = [r for p in partials for r in _recover_rows(p, truncate=False)]
            write_jsonl(self.path, sorted(rows, key=order) if order else rows)
            for p in partials:
                p.unlink()
        distributed.barrier()
        self.rows = read_jsonl(self.path)
        return self.rows

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()


def _recover_rows(partial: Path, truncate: bool) -> list[dict]:
    """Complete rows of a partial file; with `truncate`, cut off a half-written last line."""
    if not partial.exists():
        return []
    rows, good_bytes = [], 0
    with open(partial, "rb") as f:
        for raw in f:
            if not raw.endswith(b"\n"):
                break
            try:
                rows.append(json.loads(raw))
            except json.JSONDecodeError:
                break
            good_bytes += len(raw)
    if truncate:
        with open(partial, "r+b") as f:
            f.truncate(good_bytes)
    return rows
