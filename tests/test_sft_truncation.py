"""SFT rows longer than `sft.max_length` are left out and counted (a cut EFT row would lose its `Score:` line)."""

from srlm.config.compose import compose
from srlm.core.paths import RunPaths
from srlm.stages import current_model
from srlm.training.sft import train

LIMIT = 120


def chat(user: str, reply: str, **extra) -> dict:
    return {"messages": [{"role": "user", "content": user}, {"role": "assistant", "content": reply}], **extra}


def test_rows_over_the_limit_are_left_out_counted_by_kind_and_said(tmp_path, capsys):
    rows = [
        chat("How do I boil an egg?", "Boil water, add the egg, wait nine minutes."),
        chat("Name a prime number.", "7."),
        chat("Rate the reply.\nName a prime number.\n9.", "Nine is not prime: " + "it is 3 x 3. " * 12 + "Score: 0",
             score=0, message_id="m1"),
    ]  # fmt: skip
    cfg = compose(["recipe=smoke", f"run_dir={tmp_path}", f"sft.max_length={LIMIT}", "sft.max_steps=1"])
    paths = RunPaths(tmp_path).iteration(0)
    metrics = train(cfg, current_model(cfg, paths), rows, tmp_path / "sft", cfg.seed, "sft")
    assert metrics["examples"] == 2
    assert metrics["eft_over_max_length_dropped"] == 1 and metrics["ift_over_max_length_dropped"] == 0
    assert f"1 example(s) over sft.max_length={LIMIT} tokens left out (0 IFT, 1 EFT)" in capsys.readouterr().out
