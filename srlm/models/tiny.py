"""A tiny random Llama with a byte-level tokenizer and a ChatML template, built in-process (tests, smoke recipe).

Its heads are 32 wide (the smallest vLLM's CPU attention supports), so both engines can run it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch

from srlm.core.resources import root
from srlm.models.chat_format import CHATML_TEMPLATE
from srlm.models.checkpoints import TINY, cache_root, save_checkpoint


def tiny_checkpoint(hidden_size=64, num_hidden_layers=2, num_attention_heads=2, intermediate_size=128) -> Path:
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
    save_random_llama(byte_tokenizer(), shape, out)
    return out


def save_random_llama(tokenizer, shape: dict, out: Path) -> None:
    """A Llama of `shape` with random weights (seed 0) and `tokenizer`'s vocabulary and special ids, saved to `out`."""
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=len(tokenizer),
        max_position_embeddings=2048,
        num_key_value_heads=shape["num_attention_heads"],
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
        **shape,
    )
    torch.manual_seed(0)
    save_checkpoint(LlamaForCausalLM(config), tokenizer, out)


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


def tiny_base_checkpoint(hidden_size=64, num_hidden_layers=2) -> Path:
    """A tiny random Llama shaped like a base model: a trained BPE tokenizer, no chat template, eos `</s>`."""
    out = cache_root() / "models" / f"tiny-base-{hidden_size}x{num_hidden_layers}"
    if (out / "config.json").exists():
        return out
    shape = dict(
        hidden_size=hidden_size,
        num_hidden_layers=num_hidden_layers,
        num_attention_heads=2,
        intermediate_size=2 * hidden_size,
    )
    save_random_llama(bpe_tokenizer(), shape, out)
    return out


def bpe_tokenizer(vocab_size: int = 600):
    """A byte-level BPE tokenizer trained on the seed set's texts, as a base model's: `<s>`, `</s>`, no template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    from srlm.core.io import read_jsonl

    seed_messages = root() / "data" / "seed" / "messages.jsonl"
    texts = [m["text"] for m in read_jsonl(seed_messages)]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<s>", "</s>", "<unk>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>")
