"""LoRA through the smoke pipeline, and DPO with precomputed reference log-probs.

With LoRA the seed SFT and DPO train an adapter on the tiny model; DPO's reference is the same model with the
adapter disabled (TRL keeps no second copy), and every saved model is the merged, plain HF checkpoint.
"""

import os
import signal
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from conftest import smoke_overrides

from srlm.config.compose import compose
from srlm.core.errors import SrlmError
from srlm.models.loading import load_model
from srlm.models.tiny import tiny_checkpoint
from srlm.pipeline.driver import run
from srlm.pipeline.manifest import Manifest
from srlm.stages import dpo
from srlm.training import sft
from srlm.training.trainers import refuse_sharded_lora

LORA = [
    "num_iterations=1",
    "eval.enabled=false",
    "model=llama3-8b-lora",  # the model group with a `lora` block; the smoke model replaces its base
    "model.name=tiny-random",
    "model.dtype=auto",
    "model.dropout=null",
    "model.lora.r=4",
    "model.lora.target_modules=[q_proj,v_proj]",
]
ADAPTED = ("q_proj", "v_proj")
TOKENS = torch.tensor([[5, 17, 42, 99, 7, 3, 64, 128]])


def logits(model) -> torch.Tensor:
    with torch.no_grad():
        return model(input_ids=TOKENS).logits


def snapshot(trainer, start_model: str) -> dict:
    """What a training stage holds right before its model is merged and saved."""
    from peft import PeftModel
    from trl.trainer.utils import use_adapter

    model = trainer.accelerator.unwrap_model(trainer.model).eval()
    peft = isinstance(model, PeftModel)
    adapter_off = logits(model)
    if peft:
        with use_adapter(model, adapter_name=None):  # how TRL's DPOTrainer runs the reference without a ref_model
            adapter_off = logits(model)
    start = logits(load_model(start_model))
    return {
        "peft": peft,
        "trainable": [n for n, p in model.named_parameters() if p.requires_grad],
        "trainable_numel": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "numel": sum(p.numel() for p in model.parameters()),
        "ref_model": trainer.ref_model if hasattr(trainer, "ref_model") else "no such attribute",
        "adapter_off_vs_start": (adapter_off - start).abs().max().item(),
        "adapter_on_vs_start": (logits(model) - start).abs().max().item(),
        "columns": trainer.train_dataset.column_names,
    }


def keeping_snapshots(monkeypatch, module, seen: dict) -> None:
    """Make `module.run` record a snapshot of its trainer (keyed by stage) before saving."""
    save = module.save_final_model

    def save_and_record(trainer, start_model, out: Path):
        seen[out.parent.name] = snapshot(trainer, start_model)
        save(trainer, start_model, out)

    monkeypatch.setattr(module, "save_final_model", save_and_record)


@pytest.fixture(scope="module")
def lora_run(tmp_path_factory):
    """One LoRA smoke run (seed SFT, one DPO iteration) and each training stage's snapshot."""
    seen = {}
    with pytest.MonkeyPatch.context() as mp:
        keeping_snapshots(mp, sft, seen)
        keeping_snapshots(mp, dpo, seen)
        paths = run(compose(smoke_overrides(tmp_path_factory.mktemp("lora") / "run", *LORA)))
    return paths, seen


def weights(model_dir: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(model_dir / "model.safetensors")


def test_lora_config_composes_to_a_peft_config():
    from srlm.training.trainers import peft_config

    lora = peft_config(compose(["recipe=smoke", *LORA]))
    assert (lora.r, lora.lora_alpha, set(lora.target_modules)) == (4, 32, set(ADAPTED))


@pytest.mark.parametrize("stage", ["sft", "dpo"])
def test_training_updates_only_the_adapter(lora_run, stage):
    _, seen = lora_run
    snap = seen[stage]
    assert snap["peft"]
    assert snap["trainable"] and all("lora_" in n and any(m in n for m in ADAPTED) for n in snap["trainable"])
    assert 0 < snap["trainable_numel"] < snap["numel"] / 20
    assert snap["adapter_off_vs_start"] < 1e-5  # the base weights are untouched
    assert snap["adapter_on_vs_start"] > 1e-4  # the adapter learnt something


def test_dpo_reference_is_the_adapter_off_model_not_a_copy(lora_run):
    """TRL 1.16 (DPOTrainer.__init__): a peft model and no ref_model -> `self.ref_model = None`; the reference
    log-probs then come from the policy inside `use_adapter(model, None)`, i.e. `model.disable_adapter()`."""
    _, seen = lora_run
    snap = seen["dpo"]
    assert snap["ref_model"] is None
    assert snap["adapter_off_vs_start"] < 1e-5  # adapter off = M_t, the reference DPO needs


def test_saved_models_are_merged_plain_hf_checkpoints(lora_run):
    from transformers import AutoModelForCausalLM

    paths, _ = lora_run
    before = weights(tiny_checkpoint())
    for t in (0, 1):
        model_dir = paths.iteration(t).model
        names = {p.name for p in model_dir.iterdir()}
        assert {"config.json", "model.safetensors"} <= names
        assert not names & {"adapter_config.json", "adapter_model.safetensors"}
        _, info = AutoModelForCausalLM.from_pretrained(model_dir, output_loading_info=True)
        assert not info["missing_keys"] and not info["unexpected_keys"]
        after = weights(model_dir)
        assert after.keys() == before.keys()
        changed = {k for k in after if not torch.equal(after[k], before[k])}
        assert changed == {k for k in after if any(f"{m}.weight" in k for m in ADAPTED)}, (t, changed)
        before = after


@pytest.mark.parametrize(
    "fsdp,zero_stage,lora,refused",
    [(False, 3, True, True), (True, None, True, True), (False, 2, True, False), (False, 3, False, False)],
)
def test_lora_with_sharded_weights_is_refused_before_training(fsdp, zero_stage, lora, refused):
    model = SimpleNamespace(merge_and_unload=lambda: None) if lora else SimpleNamespace()
    plugin = SimpleNamespace(zero_stage=zero_stage)
    trainer = SimpleNamespace(
        model=model,
        is_fsdp_enabled=fsdp,
        is_deepspeed_enabled=zero_stage is not None,
        accelerator=SimpleNamespace(state=SimpleNamespace(deepspeed_plugin=plugin)),
    )
    if refused:
        with pytest.raises(SrlmError, match="zero2"):
            refuse_sharded_lora(trainer)
    else:
        refuse_sharded_lora(trainer)


def srlm_run(run_dir: Path, kill_at: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "SRLM_KILL_AT"}
    if kill_at:
        env["SRLM_KILL_AT"] = kill_at
    kept = ("disk.keep_checkpoints=true", "dpo.save_total_limit=2")  # the resume test looks at checkpoint-1 after
    cmd = [sys.executable, "-m", "srlm", "run", *smoke_overrides(run_dir, *LORA, *kept)]
    return subprocess.run(cmd, env=env, capture_output=True, text=True)


@pytest.mark.slow
def test_killed_lora_dpo_resumes_from_its_adapter_checkpoint(lora_run, tmp_path):
    unbroken, _ = lora_run
    killed = srlm_run(tmp_path, kill_at="dpo:1")
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    first = tmp_path / "iteration_1" / "dpo" / "checkpoints" / "checkpoint-1"
    assert (first / "adapter_model.safetensors").exists() and not (first / "model.safetensors").exists()
    saved_at = (first / "adapter_model.safetensors").stat().st_mtime_ns
    resumed = srlm_run(tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert (first / "adapter_model.safetensors").stat().st_mtime_ns == saved_at  # step 1 was not trained again
    assert Manifest.load(tmp_path / "manifest.json").is_done(1, "dpo")
    expected = weights(unbroken.iteration(1).model)
    for key, value in weights(tmp_path / "iteration_1" / "dpo" / "model").items():
        torch.testing.assert_close(value, expected[key], rtol=0, atol=1e-6, msg=key)


def test_dpo_with_precomputed_reference_log_probs_keeps_no_reference(tmp_path, monkeypatch):
    seen = {}
    keeping_snapshots(monkeypatch, dpo, seen)
    overrides = ("num_iterations=1", "eval.enabled=false", "dpo.precompute_ref_log_probs=true")
    paths = run(compose(smoke_overrides(tmp_path / "run", *overrides)))
    snap = seen["dpo"]
    assert snap["ref_model"] is None and not snap["peft"]
    assert {"ref_chosen_logps", "ref_rejected_logps"} <= set(snap["columns"])
    metrics = Manifest.load(paths.manifest).stage(1, "dpo")["metrics"]
    # At the first step the policy is M_t, so reference log-probs from M_t give a loss of exactly log 2.
    assert metrics["first_loss"] == pytest.approx(0.6931472, abs=1e-6) and metrics["steps"] == 2
    assert (paths.iteration(1).model / "model.safetensors").exists()
