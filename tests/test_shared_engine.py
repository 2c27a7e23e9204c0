"""Generate, judge and meta-judge of an iteration on one vLLM engine in one process (`generation.share_engine`):
which stages are grouped and the pool that keeps one engine loaded (a group killed half way: test_vllm_runs.py)."""

import pytest

from srlm.config.compose import compose
from srlm.inference import engines
from srlm.inference.engines import engine_pool, open_engine
from srlm.models.tiny import tiny_base_checkpoint, tiny_checkpoint
from srlm.pipeline.driver import dry_run

VLLM = ["recipe=smoke", "generation.backend=vllm"]


def iteration_1(tmp_path, *overrides) -> dict[str, str]:
    """stage -> how iteration 1 runs it, from the dry run."""
    out = {}
    for line in dry_run(compose([*overrides, f"run_dir={tmp_path}"])):
        where, how = line.split("   # ")[0].split(": ", 1)
        if where.startswith("[iteration 1]"):
            out[where.split()[-1]] = how
    return out


def test_generate_judge_and_meta_judge_run_in_one_process_on_vllm(tmp_path):
    plan = iteration_1(tmp_path, *VLLM, "meta.enabled=true")
    assert plan["generate"].endswith(f"-m srlm.pipeline.stage_group {tmp_path} 1 generate judge meta_judge")
    assert plan["judge"] == plan["meta_judge"] == "(in generate's process, on its engine)"
    assert "-m srlm.stages.eval" in plan["eval"]  # eval loads M_{t+1}: a stage of its own


@pytest.mark.parametrize(
    "overrides",
    [
        ["generation.share_engine=false"],
        ["generation.backend=hf"],  # HF stages run in the driver's process or under the generation launcher
        ["launcher.kind=accelerate", "launcher.num_processes=2"],  # two vLLM replicas: each rank its own engine
        ["judge.backend=hf"],  # another engine for the judge
    ],
)
def test_stages_run_alone_where_they_cannot_share_one_engine(tmp_path, overrides):
    plan = iteration_1(tmp_path, *VLLM, *overrides)
    assert not any("stage_group" in how or "generate's process" in how for how in plan.values()), plan
    assert plan["judge"] == "(in process)" or "-m srlm.stages.judge" in plan["judge"], plan


def test_the_pool_loads_a_model_once_and_one_engine_at_a_time(monkeypatch, capsys):
    loads, closed = [], []
    real_load = engines._load

    def load(cfg, path, backend):
        engine = real_load(cfg, path, backend)
        loads.append(path)
        real_close = engine.close
        engine.close = lambda: (closed.append(path), real_close())
        return engine

    monkeypatch.setattr(engines, "_load", load)
    cfg = compose(["recipe=smoke"])
    tiny = str(tiny_checkpoint())
    with engine_pool():
        first = open_engine(cfg, tiny, "hf")
        first.close()  # a stage closing its engine leaves it loaded
        with open_engine(cfg, tiny, "hf") as second:
            assert second.chat("hi") == first.chat("hi") and closed == []
        assert loads == [tiny]
        base = str(tiny_base_checkpoint())
        open_engine(cfg, base, "hf").close()
        assert loads == [tiny, base] and closed == [tiny]  # another model: the first is released before it loads
    assert closed == [tiny, base]  # released when the block ends
    out = capsys.readouterr().out
    assert "loaded in" in out and "reused (loaded once for this group of stages)" in out
    alone = open_engine(cfg, tiny, "hf")
    assert not getattr(alone, "pooled", False) and loads == [tiny, base, tiny]  # outside a pool: the caller's engine
    alone.close()
