"""The paper's recipe is the paper: its plan (nothing big in one process on one GPU), the IFT-only SFT
baseline that writes EFT verdicts, and the README table that sets it beside the paper."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from srlm.config.compose import compose
from srlm.core.errors import SrlmError
from srlm.core.io import read_json, read_jsonl
from srlm.core.paths import RunPaths
from srlm.data.oasst import load_messages, ranked_responses
from srlm.pipeline.driver import plan
from srlm.stages import eft, sft_baseline

README = Path(__file__).resolve().parent.parent / "README.md"


def test_paper_recipe_is_one_sft_then_two_dpo_iterations_with_the_baseline_first(tmp_path):
    stages = [(p.iteration, p.stage) for p in plan(compose(["recipe=llama2-70b/paper", f"run_dir={tmp_path}"]))]
    assert stages[:4] == [(0, "sft_baseline"), (0, "eft"), (0, "sft"), (0, "eval")]
    assert [t for t, stage in stages if stage == "dpo"] == [1, 2]  # M2 and M3


def test_paper_recipe_holds_no_model_in_one_process_on_one_gpu(tmp_path):
    model_stages = [p for p in plan(compose(["recipe=llama2-70b/paper", f"run_dir={tmp_path}"])) if p.runs_model]
    assert {p.stage for p in model_stages} == {
        "sft_baseline", "eft", "sft", "eval", "prompts", "generate", "judge", "dpo"
    }  # fmt: skip
    for p in model_stages:
        assert p.model_devices == 8, p.describe()
        assert p.engine in (None, "vllm"), p.describe()
        assert ("ZeRO-3" in p.layout) == (p.engine is None), p.describe()


def test_8b_recipe_generates_on_all_eight_gpus_and_trains_across_them(tmp_path):
    for p in plan(compose(["recipe=llama3-8b/lora", f"run_dir={tmp_path}"])):
        if not p.runs_model:
            continue
        if p.engine is None:
            assert p.processes == 8 and "ZeRO-2" in p.layout and "LoRA" in p.layout, p.describe()
        elif p.stage != "prompts":
            assert p.engine == "vllm" and p.processes == 8 and p.model_devices == 1, p.describe()


def test_eft_verdicts_come_from_the_ift_only_sft_baseline(tmp_path):
    cfg = compose(["recipe=smoke", f"run_dir={tmp_path}", "eft.verdict_source=sft_baseline"])
    paths = RunPaths(tmp_path).iteration(0)
    paths.dir.mkdir(parents=True)
    trained = sft_baseline.run(cfg, paths)
    ift = read_jsonl(paths.ift)
    assert trained["examples"] == len(ift) and (paths.baseline_model / "config.json").exists()
    stats = eft.run(cfg, paths)
    judged = [r["id"] for r in read_jsonl(paths.eft_judgments)]
    messages = load_messages(cfg.data.oasst, cfg.data.oasst_split)
    ranked = ranked_responses(messages, cfg.data.lang)[: cfg.eft.max_prompts]
    held_out = {p["prompt_id"] for p in read_jsonl(paths.eft_eval)}
    train_replies = {r["message_id"] for p in ranked if p["prompt_id"] not in held_out for r in p["replies"]}
    assert held_out and train_replies
    assert sorted(judged) == sorted(train_replies)  # one verdict per reply of a train prompt, none of a held-out one
    assert read_json(paths.eft_stats) == stats and read_jsonl(paths.ift) == ift
    shutil.rmtree(paths.baseline_model)  # the verdicts are the baseline's: without it the stage cannot write them
    with pytest.raises(SrlmError, match="the IFT-only SFT baseline is missing"):
        eft.run(cfg, paths)


def readme_table() -> list[list[str]]:
    """Rows of the table under the README's "Reproducing the paper" heading."""
    section = README.read_text().split("## Reproducing the paper", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("|")][2:]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines]


def test_readme_table_matches_the_recipe(tmp_path):
    cfg = compose(["recipe=llama2-70b/paper", f"run_dir={tmp_path}"])
    rows = [row for row in readme_table() if row[2].startswith("`")]
    assert len(rows) >= 15
    for setting, _paper, key, value in rows:
        actual = OmegaConf.select(cfg, key.strip("`"), throw_on_missing=True)
        actual = getattr(actual, "value", actual)
        written = re.match(r"`([^`]*)`", value).group(1)
        if isinstance(actual, (int, float)):
            assert float(written) == actual, (setting, key, actual)
        else:
            assert written == str(actual), (setting, key, actual)


# What Yuan et al. 2024 ("Self-Rewarding Language Models", sections 3 and 4) give, by the recipe key that sets it.
PAPER = {
    "num_iterations": 2,  # M1 (seed SFT) -> M2 -> M3: three models, two self-rewarding iterations
    "data.ift_size": 3200,
    "sft.learning_rate": 5.5e-6,
    "sft.min_lr": 1.1e-6,  # cosine decay to 1.1e-6 at the end of training
    "sft.global_batch_size": 16,
    "model.dropout": 0.1,
    "prompts.num_shots": 8,
    "prompts.num_generated_shots": 2,  # of the 8: 6 from the IFT data, 2 generated
    "prompts.temperature": 0.6,
    "prompts.top_p": 0.9,
    "generation.num_candidates": 4,
    "generation.temperature": 0.7,
    "generation.top_p": 0.9,
    "judge.num_samples": 3,
    "dpo.beta": 0.1,
    "dpo.learning_rate": 1e-6,
    "dpo.min_lr": 1e-7,
    "dpo.global_batch_size": 16,
}
PAPER_TEXT = {  # the paper's counts, which the recipe leaves room for, and its models
    "model.name": ("Llama 2 70B",),
    "prompts.generator": ("Llama 2-Chat 70B",),
    "eft.max_prompts": ("1,630", "1,775"),
    "prompts.per_iteration_schedule": ("3,964", "6,942"),
}


def paper_cells() -> dict[str, str]:
    """Recipe key -> the README's paper column."""
    return {row[2].strip("`"): row[1] for row in readme_table() if row[2].startswith("`")}


def first_number(text: str) -> float:
    found = re.search(r"\d[\d,]*(?:\.\d+)?(?:e-?\d+)?", text)
    assert found, text
    return float(found.group(0).replace(",", ""))


def test_readme_paper_column_and_the_recipe_are_the_papers_values(tmp_path):
    cfg = compose(["recipe=llama2-70b/paper", f"run_dir={tmp_path}"])
    cells = paper_cells()
    for key, value in PAPER.items():
        assert key in cells, f"README table: no row for `{key}`"
        assert first_number(cells[key]) == value, (key, cells[key])
        assert OmegaConf.select(cfg, key, throw_on_missing=True) == value, key
    for key, words in PAPER_TEXT.items():
        assert all(w in cells[key] for w in words), (key, cells[key])
    assert cfg.model.name == "meta-llama/Llama-2-70b-hf" and cfg.prompts.generator == "meta-llama/Llama-2-70b-chat-hf"
    sft_schedule = next(row for row in readme_table() if row[2] == "`sft.lr_scheduler_type`")
    assert "cosine" in sft_schedule[1] and first_number(sft_schedule[1]) == PAPER["sft.min_lr"]
    assert cfg.sft.lr_scheduler_type == cfg.dpo.lr_scheduler_type == "cosine_with_min_lr"


PAPER_PAIRS = {1: 3964, 2: 6942}  # preference pairs that trained M2 and M3 (Yuan et al. 2024)
PAPER_EFT_TRAIN = 1775  # EFT train examples the agreement filter kept, before rebalancing to 1,630


def test_paper_recipe_leaves_room_for_the_papers_pair_and_eft_counts_and_holds_no_pair_out(tmp_path):
    from srlm.data.prompt_pool import wanted

    cfg = compose(["recipe=llama2-70b/paper", f"run_dir={tmp_path}"])
    for t, pairs in PAPER_PAIRS.items():
        assert wanted(cfg, t) >= pairs, (t, wanted(cfg, t))  # one pair per prompt at most
    assert cfg.eft.max_prompts * (1 - cfg.eft.eval_fraction) >= PAPER_EFT_TRAIN
    assert cfg.dpo.eval_fraction == 0


def test_a_prompt_schedule_gives_each_iteration_its_count_and_repeats_the_last(tmp_path):
    from srlm.data.prompt_pool import wanted

    cfg = compose(["recipe=smoke", "prompts.per_iteration=5", "prompts.per_iteration_schedule=[2,3]"])
    assert [wanted(cfg, t) for t in (1, 2, 3)] == [2, 3, 3]
    assert wanted(compose(["recipe=smoke", "prompts.per_iteration=5"]), 2) == 5
