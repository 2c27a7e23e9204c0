"""The resolved config a run keeps: its hash, the keys changed on resume, and enum values."""

from __future__ import annotations

import hashlib
import json
from enum import Enum
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from srlm.config.schema import SrlmConfig, register_configs
from srlm.core.errors import SrlmError


def to_container(cfg: DictConfig) -> dict:
    return OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)


def config_hash(cfg: DictConfig) -> str:
    """Hash of the config, ignoring keys that do not change results (resume switches, logger)."""
    data = to_container(cfg)
    for key in ("resume", "logger", "launcher", "run_dir", "disk"):
        data.pop(key, None)
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def changed_keys(old: dict, new: dict, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two plain config dicts."""
    keys = []
    for k in sorted(set(old) | set(new)):
        a, b = old.get(k, "<missing>"), new.get(k, "<missing>")
        full = f"{prefix}{k}"
        if isinstance(a, dict) and isinstance(b, dict):
            keys += changed_keys(a, b, full + ".")
        elif a != b:
            keys.append(full)
    return keys


def load_run_config(run_dir: Path) -> DictConfig:
    """The resolved config saved in a run directory, validated against the schema."""
    path = Path(run_dir) / "config.yaml"
    if not path.exists():
        raise SrlmError(f"{path}: no such file; is {run_dir} a srlm run directory?")
    register_configs()
    schema = OmegaConf.structured(SrlmConfig)
    return OmegaConf.merge(schema, OmegaConf.load(path))


def enum_value(x) -> str:
    """The plain string of an Enum config value (or of a plain string)."""
    return x.value if isinstance(x, Enum) else str(x)
