"""Built-in model names, the model cache and checkpoint saving."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from srlm.core.io import share_as_umask_allows

EMBEDDED = "smollm2-135m-instruct"


TINY = "tiny-random"


def cache_root() -> Path:
    return Path(os.environ.get("SRLM_CACHE", Path.home() / ".cache" / "srlm"))


def save_checkpoint(model, tokenizer, out: Path) -> None:
    """Save model and tokenizer to `out` through a temporary directory and a rename (no quantization entry)."""
    tmp = out.with_name(out.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    config = json.loads((tmp / "config.json").read_text())
    config.pop("quantization_config", None)
    (tmp / "config.json").write_text(json.dumps(config, indent=2))
    share_as_umask_allows(tmp)
    out.parent.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(out, ignore_errors=True)
    os.replace(tmp, out)
