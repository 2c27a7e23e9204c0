"""The GPU check's CPU-testable parts: every part composes and plans, a part's run is recorded whether it finishes or
runs out of time, and without a GPU the check stops with one line."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # benchmarks/ is a folder of the repository
from benchmarks import gpu_check  # noqa: E402
from benchmarks.gpu_check import PARTS, Part, main, run_part  # noqa: E402

pytestmark = pytest.mark.skipif(gpu_check.torch.cuda.is_available(), reason="checks the check where no GPU is")


def test_without_a_gpu_the_check_stops_with_one_line_and_writes_nothing(tmp_path, capsys):
    assert main(["--out", str(tmp_path / "r.json"), "--work", str(tmp_path / "work")]) == 2
    assert capsys.readouterr().out.startswith("error: no CUDA device visible")
    assert not (tmp_path / "r.json").exists()


@pytest.mark.slow
def test_every_part_composes_and_plans_its_stages(tmp_path, capsys):
    assert main(["--dry-run", "--work", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert all(f"[gpu-check] {p.name}: " in out for p in PARTS)
    assert "conf/accelerate/zero3.yaml -m srlm.stages.dpo" in out  # ZeRO-3 training, one process
    assert out.count("# vLLM: 1 engine(s)") >= 6  # generate, judge and eval on vLLM in both srlm runs on vLLM


@pytest.mark.slow
def test_a_part_is_recorded_with_its_stages_and_one_out_of_time_as_such(tmp_path):
    smoke = ("recipe=smoke", "num_iterations=1", "eval.enabled=false")
    done = run_part(Part("smoke", smoke, 900), tmp_path)
    assert done["ok"] and done["returncode"] == 0 and not done["timed_out"]
    assert set(done["stages"]) == {"0", "1"}
    assert {s for stages in done["stages"].values() for s in stages.values()} == {"done"}
    cut = run_part(Part("cut", smoke, 1), tmp_path)
    assert cut["timed_out"] and not cut["ok"] and cut["returncode"] is None
