"""Test helper, put on PYTHONPATH: logs every path a process opens for writing, renames or removes.

Active when SRLM_WRITE_AUDIT names a directory: each process appends `<event>\t<path>` lines to
`<dir>/rank<RANK>-<pid>.log` (rank `-` outside a distributed launch).
"""

import os
import sys

_DIR = os.path.abspath(os.environ["SRLM_WRITE_AUDIT"]) if os.environ.get("SRLM_WRITE_AUDIT") else None
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC


def _hook(event, args):
    if event == "open":
        path, mode, flags = args
        writes = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (flags or 0) & _WRITE_FLAGS
        paths = [path] if writes else []
    elif event in ("os.rename", "os.remove", "shutil.rmtree", "os.rmdir"):
        paths = list(args[:2]) if event == "os.rename" else [args[0]]
    else:
        return
    for p in paths:
        if isinstance(p, (str, bytes, os.PathLike)):
            p = os.path.abspath(os.fsdecode(p))
            if not p.startswith(_DIR):
                with _open_log() as f:
                    f.write(f"{event}\t{p}\n")


def _open_log():
    name = f"rank{os.environ.get('RANK', '-')}-{os.getpid()}.log"
    return _real_open(os.path.join(_DIR, name), "a")


if _DIR:
    _real_open = open
    sys.addaudithook(_hook)
