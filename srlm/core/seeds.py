"""Seeds derived from names, so every random draw of a run is fixed by (seed, iteration, stage, row)."""

from __future__ import annotations

import hashlib


def derive_seed(*parts) -> int:
    """A 31-bit seed from any parts (root seed, iteration, stage, row id...)."""
    return int(hashlib.sha256("/".join(map(str, parts)).encode()).hexdigest()[:8], 16) & 0x7FFFFFFF


def stage_seed(cfg, paths, stage: str) -> int:
    """The seed of `stage` in the iteration `paths` names."""
    return derive_seed(cfg.seed, paths.t, stage)
