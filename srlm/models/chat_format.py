"""Chat format for base models: turn markers that are real tokens, and an eos the model learns to write.

A base model's tokenizer (Llama-2, Llama-3 base...) has no chat template. Rendering ChatML as plain
text would split `<|im_end|>` into several ordinary tokens while eos stays `</s>`: a model trained
on that never emits an eos at the end of its turn and writes made-up next turns until the token
limit. Before the seed SFT such a tokenizer therefore gets ChatML through TRL's `clone_chat_template`
(`SFTConfig.chat_template_path`): `<|im_start|>`/`<|im_end|>` added as special tokens, eos set to
`<|im_end|>`, the embeddings resized (and, with LoRA, the new rows trained). The source tokenizer
TRL clones from is the model's own tokenizer with those additions, written next to the trainer's
output, so nothing is downloaded.
"""

from __future__ import annotations

import copy
from pathlib import Path

TURN_START, TURN_END = "<|im_start|>", "<|im_end|>"

CHATML_TEMPLATE = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def needs_chat_template(tokenizer) -> bool:
    return tokenizer.chat_template is None


def chatml_source(tokenizer, out: Path) -> str:
    """Write `tokenizer` with ChatML's turn markers as special tokens, ChatML's template and eos `<|im_end|>`."""
    source = copy.deepcopy(tokenizer)
    source.add_special_tokens({"additional_special_tokens": [TURN_START, TURN_END]})
    source.chat_template = CHATML_TEMPLATE
    source.eos_token = TURN_END
    out.mkdir(parents=True, exist_ok=True)
    source.save_pretrained(out)
    return str(out)


def keep_previous_eos(model, previous_eos: list[int]) -> None:
    """Stop on the base model's own eos too: TRL's clone leaves only `<|im_end|>` in the generation config."""
    listed = model.generation_config.eos_token_id
    ids = [*(listed if isinstance(listed, list) else [listed]), *previous_eos]
    model.generation_config.eos_token_id = list(dict.fromkeys(i for i in ids if i is not None))


def text_turn_markers(tokenizer) -> list[str]:
    """ChatML's markers when the tokenizer renders them as plain text (a base model's fallback template)."""
    if tokenizer.chat_template == CHATML_TEMPLATE and TURN_END not in tokenizer.get_vocab():
        return [TURN_END, TURN_START]
    return []
