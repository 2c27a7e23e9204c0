"""The accelerate configs in conf/accelerate, read and launched as `accelerate launch` does with srlm's command.

Each file goes through accelerate's own loader and launch-argument validation, fed the exact command line the
driver builds for a DPO stage; then the launcher's environment becomes the plugin a training process builds. The
DeepSpeed ones are then filled from srlm's trainer arguments as transformers does and validated by DeepSpeed itself
(at the launch's world size). The slow test trains under DeepSpeed for real: 2 CPU processes, gloo.
"""

import os
import subprocess
from pathlib import Path
from types import SimpleNamespace
from unittest import mock

import pytest
import yaml
from accelerate.commands.config.config_args import load_config_from_file
from accelerate.commands.launch import _validate_launch_command, launch_command_parser
from accelerate.utils import DeepSpeedPlugin
from accelerate.utils.launch import prepare_deepspeed_cmd_env, prepare_multi_gpu_env

from srlm.config.compose import CONF_DIR, compose
from srlm.core.paths import RunPaths
from srlm.pipeline.launch import stage_command

ACCELERATE_DIR = CONF_DIR / "accelerate"
# name: (distributed_type, ZeRO stage, optimizer offload device, parameter offload device)
EXPECTED = {
    "ddp": ("MULTI_GPU", None, None, None),
    "fsdp": ("FSDP", None, None, None),
    "zero2": ("DEEPSPEED", 2, "none", "none"),
    "zero2_offload": ("DEEPSPEED", 2, "cpu", "none"),
    "zero3": ("DEEPSPEED", 3, "none", "none"),
    "zero3_offload": ("DEEPSPEED", 3, "cpu", "cpu"),
}
DEEPSPEED = [name for name, expected in EXPECTED.items() if expected[0] == "DEEPSPEED"]


def config_path(name: str) -> Path:
    return ACCELERATE_DIR / f"{name}.yaml"


def variant(tmp_path: Path, name: str, **changes) -> Path:
    """A copy of conf/accelerate/<name>.yaml with some keys changed (`section__key` for a nested one)."""
    data = yaml.safe_load(config_path(name).read_text())
    for key, value in changes.items():
        section, _, sub = key.partition("__")
        if sub:
            data[section][sub] = value
        else:
            data[section] = value
    path = tmp_path / f"{name}-variant.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def unknown_nested_keys(path: Path) -> list[str]:
    """Keys of `deepspeed_config` / `fsdp_config` that `accelerate launch` has no option for.

    accelerate copies these sections onto its launch arguments without checking them, so a misspelt key is
    silently ignored and its setting falls back to a default.
    """
    options = {action.dest for action in launch_command_parser()._actions}
    data = yaml.safe_load(path.read_text())
    keys = list(data.get("deepspeed_config") or {})
    keys += [k if k.startswith("fsdp") else f"fsdp_{k}" for k in data.get("fsdp_config") or {}]
    return [k for k in keys if k not in options]


def launch(path: Path, run_dir: Path, *overrides: str):
    """Parse and validate the DPO launch command the driver builds for `path`, as `accelerate launch` does.

    Returns accelerate's (args, loaded config, mixed-precision-from-config flag).
    """
    cfg = compose(["recipe=llama2-70b/paper", f"run_dir={run_dir}", f"launcher.accelerate_config={path}", *overrides])
    cmd = stage_command("dpo", cfg, RunPaths(cfg.run_dir).iteration(1))
    assert Path(cmd[0]).name == "accelerate" and cmd[1] == "launch", cmd
    return _validate_launch_command(launch_command_parser().parse_args(cmd[2:]))


def launcher_env(args, defaults, mp_from_config: bool) -> dict:
    """The environment `accelerate launch` gives the training processes."""
    if args.use_deepspeed:
        fields = list(defaults.deepspeed_config) + (["mixed_precision"] if mp_from_config else [])
        args.deepspeed_fields_from_accelerate_config = ",".join(fields)
        return prepare_deepspeed_cmd_env(args)[1]
    return prepare_multi_gpu_env(args)


def deepspeed_plugin(env: dict, bf16: bool = True) -> DeepSpeedPlugin:
    """The plugin TrainingArguments builds in a process launched with `env` (precision as the trainer asks)."""
    with mock.patch.dict(os.environ, env, clear=True):
        plugin = DeepSpeedPlugin()
    plugin.set_mixed_precision("bf16" if bf16 else env.get("ACCELERATE_MIXED_PRECISION", "no"))
    return plugin


class OnGpus:
    """srlm's DPO trainer arguments as they are on `world_size` bf16 GPUs (this machine has none)."""

    def __init__(self, args, world_size: int, bf16: bool = True):
        self._args, self.world_size, self.bf16 = args, world_size, bf16

    def __getattr__(self, name):
        return getattr(self._args, name)


def trainer_args(tmp_path: Path, world_size: int, bf16: bool = True) -> OnGpus:
    from trl import DPOConfig

    from srlm.training.trainers import common_args

    cfg = compose(["recipe=llama2-70b/paper", f"run_dir={tmp_path}"])
    return OnGpus(DPOConfig(**common_args(cfg.dpo, cfg, tmp_path / "out", seed=0)), world_size, bf16)


class DataParallel:
    """A model-parallel unit that reports the launch's data-parallel world size to DeepSpeed's config."""

    def __init__(self, world_size: int):
        self.world_size = world_size

    def get_data_parallel_world_size(self) -> int:
        return self.world_size


def validated_deepspeed_config(plugin: DeepSpeedPlugin, args: OnGpus, monkeypatch):
    """Fill the plugin's config from the trainer arguments (as transformers does) and validate it with DeepSpeed."""
    import deepspeed.runtime.config as ds_config
    from transformers.integrations.deepspeed import HfTrainerDeepSpeedConfig

    hf = HfTrainerDeepSpeedConfig(plugin.deepspeed_config)
    hf.trainer_config_process(args)
    hf.trainer_config_finalize(args, SimpleNamespace(config=SimpleNamespace(hidden_size=8192)), num_training_steps=100)
    monkeypatch.setattr(ds_config.dist, "get_rank", lambda: 0)  # no process group here; the world size is the mpu's
    return ds_config.DeepSpeedConfig(hf.config, mpu=DataParallel(args.world_size))


def test_every_config_is_known():
    assert sorted(p.stem for p in ACCELERATE_DIR.glob("*.yaml")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_config_loads_with_bf16_on_8_processes_and_says_how_to_use_it(name):
    path = config_path(name)
    config = load_config_from_file(str(path))
    assert config.distributed_type.value == EXPECTED[name][0]
    assert config.compute_environment.value == "LOCAL_MACHINE"
    assert (config.mixed_precision, config.num_processes, config.num_machines, config.use_cpu) == ("bf16", 8, 1, False)
    assert unknown_nested_keys(path) == []
    header = path.read_text().split("\ncompute_environment")[0]
    assert header.startswith("# ") and "srlm run " in header and f"conf/accelerate/{name}.yaml" in header


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_launch_arguments_follow_the_config_and_the_srlm_launcher(name, tmp_path):
    args, _, _ = launch(config_path(name), tmp_path, "launcher.num_processes=4")
    assert args.num_processes == 4 and args.num_machines == 1  # srlm's launcher overrides the file's 8
    assert args.mixed_precision == "bf16"
    kind, stage, optimizer_device, param_device = EXPECTED[name]
    assert (args.use_deepspeed, args.use_fsdp, args.multi_gpu) == (
        kind == "DEEPSPEED",
        kind == "FSDP",
        kind == "MULTI_GPU",
    )
    if kind == "DEEPSPEED":
        assert (args.zero_stage, args.offload_optimizer_device, args.offload_param_device) == (
            stage,
            optimizer_device,
            param_device,
        )
        assert args.zero3_init_flag == (stage == 3)
        if stage == 3:
            assert args.zero3_save_16bit_model is True


@pytest.mark.parametrize("name", DEEPSPEED)
def test_deepspeed_config_is_accepted_by_deepspeed(name, tmp_path, monkeypatch):
    args, defaults, mp_from_config = launch(config_path(name), tmp_path, "launcher.num_processes=4")
    plugin = deepspeed_plugin(launcher_env(args, defaults, mp_from_config))
    train = trainer_args(tmp_path, world_size=4)
    ds = validated_deepspeed_config(plugin, train, monkeypatch)
    _, stage, optimizer_device, param_device = EXPECTED[name]
    zero = ds.zero_config
    assert ds.zero_optimization_stage == stage
    assert zero.offload_optimizer.device == optimizer_device
    assert zero.offload_param.device == param_device
    assert ds.bfloat16_config.enabled and not ds.float16_config.enabled
    assert ds.train_micro_batch_size_per_gpu == train.per_device_train_batch_size
    assert ds.train_batch_size == train.per_device_train_batch_size * train.gradient_accumulation_steps * 4
    assert plugin.zero3_init_flag == (stage == 3)
    if stage == 3:
        assert zero.gather_16bit_weights_on_model_save  # the trainer can save consolidated weights


def test_two_machines_go_through_deepspeeds_multinode_launcher(tmp_path, monkeypatch):
    overrides = (
        "launcher.num_machines=2",
        "launcher.main_process_ip=10.0.0.1",
        "launcher.main_process_port=0",
        "launcher.hostfile=/job/hostfile",
    )
    args, defaults, mp_from_config = launch(config_path("zero3"), tmp_path, *overrides)
    assert (args.num_processes, args.num_machines) == (16, 2)
    env = launcher_env(args, defaults, mp_from_config)
    cmd, _ = prepare_deepspeed_cmd_env(args)
    assert cmd[:3] == ["deepspeed", "--hostfile", "/job/hostfile"]
    assert cmd[cmd.index("--launcher") + 1] == "pdsh" and cmd[cmd.index("--num_gpus") + 1] == "8"
    assert cmd[cmd.index("--master_addr") + 1] == "10.0.0.1" and "srlm.stages.dpo" in cmd
    ds = validated_deepspeed_config(deepspeed_plugin(env), trainer_args(tmp_path, 16), monkeypatch)
    assert ds.world_size == 16


def test_fsdp_plugin_shards_fully_and_saves_a_full_state_dict(tmp_path):
    from accelerate.utils import FullyShardedDataParallelPlugin
    from torch.distributed.fsdp import ShardingStrategy, StateDictType
    from transformers import LlamaConfig, LlamaForCausalLM
    from transformers.models.llama.modeling_llama import LlamaDecoderLayer

    env = launcher_env(*launch(config_path("fsdp"), tmp_path, "launcher.num_processes=4"))
    assert env["ACCELERATE_USE_FSDP"] == "true" and env["ACCELERATE_MIXED_PRECISION"] == "bf16"
    with mock.patch.dict(os.environ, env, clear=True):
        # The config asks for synced module states (rank 0 loads, the others receive): accelerate reads that from
        # the environment and, with no accelerator here, refuses it by name.
        with pytest.raises(RuntimeError, match="sync_module_states=True"):
            FullyShardedDataParallelPlugin()
        # Everything else as accelerate reads it from the same environment, the two device-bound settings off.
        plugin = FullyShardedDataParallelPlugin(sync_module_states=False, cpu_ram_efficient_loading=False)
    assert env["FSDP_SYNC_MODULE_STATES"] == env["FSDP_CPU_RAM_EFFICIENT_LOADING"] == "true"
    assert plugin.fsdp_version == 1
    assert plugin.sharding_strategy == ShardingStrategy.FULL_SHARD
    assert plugin.state_dict_type == StateDictType.FULL_STATE_DICT
    assert plugin.use_orig_params
    assert not plugin.cpu_offload.offload_params
    tiny = LlamaForCausalLM(
        LlamaConfig(vocab_size=32, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32)
    )
    plugin.set_auto_wrap_policy(tiny)
    assert LlamaDecoderLayer in plugin.auto_wrap_policy.keywords["transformer_layer_cls"]


# The checks above can fail: each broken variant below is rejected by the same path.


def test_unknown_top_level_key_is_refused_by_accelerate(tmp_path):
    with pytest.raises(ValueError, match="mixed_precison"):
        load_config_from_file(str(variant(tmp_path, "zero3", mixed_precison="bf16")))


def test_misspelt_deepspeed_key_is_caught_though_accelerate_ignores_it(tmp_path, monkeypatch):
    path = variant(tmp_path, "zero3", deepspeed_config={"zero_stag": 3, "zero3_save_16bit_model": True})
    assert unknown_nested_keys(path) == ["zero_stag"]
    args, defaults, mp_from_config = launch(path, tmp_path)
    plugin = deepspeed_plugin(launcher_env(args, defaults, mp_from_config))
    assert plugin.zero_stage == 2  # what the misspelling silently gives


@pytest.mark.parametrize(
    "change,message",
    [
        ({"deepspeed_config__zero_stage": 4}, "stage"),
        ({"deepspeed_config__offload_optimizer_device": "gpu"}, "device"),
    ],
)
def test_bad_deepspeed_values_are_refused_by_deepspeed(change, message, tmp_path, monkeypatch):
    from pydantic import ValidationError

    args, defaults, mp_from_config = launch(variant(tmp_path, "zero3", **change), tmp_path)
    plugin = deepspeed_plugin(launcher_env(args, defaults, mp_from_config))
    with pytest.raises(ValidationError, match=message):
        validated_deepspeed_config(plugin, trainer_args(tmp_path, args.num_processes), monkeypatch)


def test_bf16_config_with_a_float32_trainer_is_a_mismatch(tmp_path, monkeypatch):
    """Without a bf16 GPU (here) srlm trains in float32, and the bf16 configs stop with transformers' error."""
    args, defaults, mp_from_config = launch(config_path("zero2"), tmp_path)
    plugin = deepspeed_plugin(launcher_env(args, defaults, mp_from_config), bf16=False)
    with pytest.raises(ValueError, match="bf16.enabled=True vs hf bf16"):
        validated_deepspeed_config(plugin, trainer_args(tmp_path, 8, bf16=False), monkeypatch)


# Training under DeepSpeed on this CPU: 2 processes over gloo (DeepSpeed builds its shm comm op on first use, about 2
# min once, cached in ~/.cache/torch_extensions). The tiny model is widened so that ZeRO-3 really partitions its
# weights (DeepSpeed keeps tensors under 1e5 elements whole on every rank).
WIDE = ["model.tiny.hidden_size=320", "model.tiny.intermediate_size=640"]


def on_this_cpu(tmp_path: Path, name: str) -> Path:
    """conf/accelerate/<name>.yaml with mixed precision off: srlm trains in float32 where there is no bf16 GPU."""
    return variant(tmp_path, name, mixed_precision="no")


def accelerate_run(run_dir: Path, config: Path) -> list[str]:
    return [
        "recipe=smoke",
        f"run_dir={run_dir}",
        "num_iterations=1",
        "eval.enabled=false",
        *WIDE,
        "launcher=accelerate",
        "launcher.num_processes=2",
        "launcher.generation_kind=inprocess",
        f"launcher.accelerate_config={config}",
    ]


def weights(model_dir: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(model_dir / "model.safetensors")


@pytest.mark.slow
def test_deepspeed_zero3_trains_on_two_cpu_processes_and_saves_whole_weights(tmp_path):
    """Seed SFT and DPO under ZeRO-3 through the driver's accelerate launcher, then the same DPO under ZeRO-2."""
    import shutil

    import torch
    from transformers import AutoModelForCausalLM

    from srlm.models.tiny import tiny_checkpoint
    from srlm.pipeline.driver import run
    from srlm.pipeline.manifest import Manifest

    kept = "disk.keep_checkpoints=true"  # the optimizer shards are looked at after the run
    paths = run(compose([*accelerate_run(tmp_path / "zero3", on_this_cpu(tmp_path, "zero3")), kept]))
    manifest = Manifest.load(paths.manifest)
    assert manifest.is_done(0, "sft") and manifest.is_done(1, "dpo")
    step = sorted(paths.iteration(1).checkpoints.glob("checkpoint-*/global_step*"))[-1]
    assert sorted(p.name for p in step.glob("zero_pp_rank_*_optim_states.pt")) == [
        "zero_pp_rank_0_mp_rank_00_optim_states.pt",  # one optimizer shard per rank
        "zero_pp_rank_1_mp_rank_00_optim_states.pt",
    ]

    base = weights(tiny_checkpoint(hidden_size=320, intermediate_size=640))
    sft, dpo = weights(paths.iteration(0).model), weights(paths.iteration(1).model)
    for saved, before in ((sft, base), (dpo, sft)):
        assert {k: v.shape for k, v in saved.items()} == {k: v.shape for k, v in before.items()}
        assert not torch.equal(saved["model.layers.0.mlp.up_proj.weight"], before["model.layers.0.mlp.up_proj.weight"])
    _, info = AutoModelForCausalLM.from_pretrained(paths.iteration(1).model, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"]

    copy = tmp_path / "zero2"
    shutil.copytree(paths.root, copy)
    shutil.rmtree(copy / "iteration_1" / "dpo")
    cfg = compose(accelerate_run(copy, on_this_cpu(tmp_path, "zero2")))
    out = subprocess.run(stage_command("dpo", cfg, RunPaths(copy).iteration(1)), capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    zero2 = weights(RunPaths(copy).iteration(1).model)
    for key, value in dpo.items():
        torch.testing.assert_close(zero2[key], value, rtol=1e-4, atol=1e-5, msg=key)
