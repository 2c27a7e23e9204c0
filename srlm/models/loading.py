"""Loading a model and its tokenizer for a trainer or an engine."""

from __future__ import annotations

from srlm.core.errors import SrlmError
from srlm.models.chat_format import CHATML_TEMPLATE
from srlm.models.precision import DROPOUT_KEYS, device, dropout_settings, resolve_dtype


def load_tokenizer(path: str, padding_side: str = "left", template_fallback: bool = True):
    """The model's tokenizer, with a pad token; one without a chat template gets ChatML as plain text.

    The fallback only serves inference on a base model (its turn markers are text, so engines also stop
    on them as strings); training gives such a tokenizer real turn tokens (`srlm.models.chat_format`).
    """
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    tok.padding_side = padding_side
    if tok.chat_template is None and template_fallback:
        tok.chat_template = CHATML_TEMPLATE
    return tok


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
