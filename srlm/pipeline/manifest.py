"""`manifest.json`: per-iteration stage status, config hash and the wandb run id; written atomically."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from srlm.core.io import read_json, write_json


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S")


class Manifest:
    def __init__(self, path: Path, data: dict[str, Any]):
        self.path = Path(path)
        self.data = data

    @classmethod
    def load_or_create(cls, path: Path, config_hash: str) -> Manifest:
        path = Path(path)
        if path.exists():
            return cls(path, read_json(path))
        m = cls(path, {"config_hash": config_hash, "created": _now(), "wandb_run_id": None, "iterations": {}})
        m.save()
        return m

    @classmethod
    def load(cls, path: Path) -> Manifest:
        return cls(path, read_json(path))

    def save(self) -> None:
        write_json(self.path, self.data)

    def stage(self, t: int, stage: str) -> dict:
        return self.data["iterations"].get(str(t), {}).get(stage, {})

    def is_done(self, t: int, stage: str) -> bool:
        return self.stage(t, stage).get("status") == "done"

    def set_stage(self, t: int, stage: str, status: str, **extra: Any) -> None:
        it = self.data["iterations"].setdefault(str(t), {})
        entry = it.setdefault(stage, {})
        entry["status"] = status
        entry[{"running": "started", "done": "finished", "failed": "failed_at"}.get(status, "updated")] = _now()
        entry.update(extra)
        self.save()

    def claim_outputs(self, t: int, stage: str, outputs: dict[str, str]) -> None:
        """Record `outputs` as this stage's, removing them from any other stage's record (a file rewritten by a
        later stage is checked as that stage's output)."""
        for it in self.data["iterations"].values():
            for entry in it.values():
                for rel in outputs:
                    entry.get("outputs", {}).pop(rel, None)
        self.data["iterations"][str(t)][stage]["outputs"] = outputs
        self.save()

    def iterations(self) -> list[int]:
        return sorted(int(t) for t in self.data["iterations"])
