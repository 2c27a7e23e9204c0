"""One driver per run directory: an advisory lock on `RUN_DIR/.lock` held while a driver runs.

The kernel drops the lock when the driver exits or is killed, so a stale `.lock` file never blocks a
resume, and `srlm status` can tell a stage that is running from one whose driver died.
"""

from __future__ import annotations

import fcntl
import os
import socket
from pathlib import Path

from srlm.core.errors import SrlmError

LOCK_NAME = ".lock"


class RunLock:
    """Held from `acquire()` until `release()` or the end of the process."""

    def __init__(self, root: Path):
        self.path = Path(root) / LOCK_NAME
        self.file = None

    def acquire(self) -> RunLock:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.file = open(self.path, "a+")  # noqa: SIM115 - held open for the lock's lifetime
        except (FileExistsError, NotADirectoryError):
            raise SrlmError(f"run_dir {self.path.parent}: a file is in the way (expected a directory)") from None
        except OSError as e:
            raise SrlmError(f"run_dir {self.path.parent}: cannot be written ({e.strerror})") from None
        try:
            fcntl.flock(self.file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.file.seek(0)
            holder = self.file.read().strip() or "unknown"
            self.file.close()
            raise SrlmError(
                f"{self.path.parent}: another srlm run is using this run directory ({holder}); "
                "wait for it to finish, or use another run_dir"
            ) from None
        self.file.truncate(0)
        self.file.write(f"pid {os.getpid()} on {socket.gethostname()}")
        self.file.flush()
        return self

    def release(self) -> None:
        if self.file is not None:
            fcntl.flock(self.file, fcntl.LOCK_UN)
            self.file.close()
            self.file = None


def is_running(root: Path) -> bool:
    """Whether a driver holds the run directory's lock now."""
    path = Path(root) / LOCK_NAME
    if not path.exists():
        return False
    with open(path) as f:
        try:
            fcntl.flock(f, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(f, fcntl.LOCK_UN)
    return False
