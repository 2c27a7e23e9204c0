"""Data shipped in data/seed/: RewardBench-style preference pairs, held-out win-rate prompts and the prompt pool."""

import re
from collections import Counter
from pathlib import Path

import pytest

from srlm.config.compose import compose
from srlm.config.run_config import enum_value
from srlm.core.io import read_jsonl
from srlm.data.prompt_pool import check_pool_size
from srlm.data.prompt_sets import normalize
from srlm.evaluation.metrics import SECTIONS, wilson_interval

SEED = Path(__file__).resolve().parent.parent / "data" / "seed"
PREFERENCES = SEED / "preferences.jsonl"
EVAL_PROMPTS = SEED / "eval_prompts.jsonl"
MESSAGES = SEED / "messages.jsonl"
PROMPT_POOL = SEED / "prompt_pool.jsonl"

FIELDS = {
    PREFERENCES: ("id", "prompt", "chosen", "rejected", "subset"),
    EVAL_PROMPTS: ("prompt_id", "prompt"),
    PROMPT_POOL: ("prompt_id", "prompt"),
}
ID_FIELD = {PREFERENCES: "id", EVAL_PROMPTS: "prompt_id", PROMPT_POOL: "prompt_id"}
FOUR_SECTIONS = ("Chat", "Chat Hard", "Safety", "Reasoning")
MIN_POOL_WORDS, MAX_POOL_WORDS = 3, 60
SECTION_OF = {subset: section for section, subsets in SECTIONS.items() for subset in subsets}
RECIPES = sorted(
    p.relative_to(SEED.parent.parent / "recipes").with_suffix("").as_posix()
    for p in (SEED.parent.parent / "recipes").rglob("*.yaml")
)


@pytest.fixture(scope="module")
def recipes() -> dict:
    return {name: compose([f"recipe={name}"]) for name in RECIPES}


def same_file(a, b: Path) -> bool:
    return a is not None and Path(a).resolve() == b.resolve()


@pytest.fixture(scope="module")
def rows() -> dict[Path, list[dict]]:
    return {path: read_jsonl(path) for path in FIELDS}


@pytest.fixture(scope="module")
def seed_prompts() -> set[str]:
    return {normalize(m["text"]) for m in read_jsonl(MESSAGES) if m["role"] == "prompter"}


def duplicates(values) -> list:
    return sorted(v for v, n in Counter(values).items() if n > 1)


@pytest.mark.parametrize("path", list(FIELDS), ids=lambda p: p.name)
def test_rows_have_the_required_non_empty_string_fields(rows, path):
    assert rows[path], f"{path.name} is empty"
    for i, row in enumerate(rows[path], 1):
        assert isinstance(row, dict), f"{path.name}:{i}: not a JSON object"
        for field in FIELDS[path]:
            assert field in row, f"{path.name}:{i}: no field {field!r}"
            assert isinstance(row[field], str), f"{path.name}:{i}: {field!r} is not a string"
            assert row[field].strip(), f"{path.name}:{i}: {field!r} is empty"


@pytest.mark.parametrize("path", list(FIELDS), ids=lambda p: p.name)
def test_ids_and_prompts_are_unique_within_a_file(rows, path):
    assert duplicates(r[ID_FIELD[path]] for r in rows[path]) == []
    assert duplicates(normalize(r["prompt"]) for r in rows[path]) == []


def test_eval_prompts_keep_their_id_style(rows):
    ids = [r["prompt_id"] for r in rows[EVAL_PROMPTS]]
    assert [i for i in ids if not re.fullmatch(r"eval-\d{3}", i)] == []


def test_eval_prompts_hold_what_every_recipe_takes_and_all_give_intervals_within_a_tenth(rows, recipes):
    """Each recipe takes `eval.win_rate_prompts` of them (0: all); the CPU recipe takes all for win rates known to
    about +-0.1 (a win rate of one half over every prompt: its 95% interval within 0.1 of it)."""
    users = {name: cfg for name, cfg in recipes.items() if same_file(cfg.data.eval_prompts, EVAL_PROMPTS)}
    assert "smollm2-135m/cpu" in users and users["smollm2-135m/cpu"].eval.win_rate_prompts == 0
    n = len(rows[EVAL_PROMPTS])
    assert all(cfg.eval.win_rate_prompts <= n for cfg in users.values())
    lo, hi = wilson_interval(n // 2, 2 * (n // 2))
    assert hi - lo <= 0.2


def test_every_subset_belongs_to_a_rewardbench_section(rows):
    unknown = sorted({r["subset"] for r in rows[PREFERENCES]} - SECTION_OF.keys())
    assert unknown == [], f"subsets not in srlm.evaluation.metrics.SECTIONS: {unknown}"


def test_each_of_the_four_sections_has_pairs_over_several_subsets(rows):
    pairs = Counter(SECTION_OF.get(r["subset"]) for r in rows[PREFERENCES])
    subsets: dict[str, set[str]] = {}
    for r in rows[PREFERENCES]:
        subsets.setdefault(SECTION_OF.get(r["subset"]), set()).add(r["subset"])
    for section in FOUR_SECTIONS:
        assert pairs[section] > 0, f"{section}: no pair"
        assert len(subsets[section]) >= 2, f"{section}: only subsets {sorted(subsets.get(section, ()))}"


def test_reasoning_has_both_math_and_code_pairs(rows):
    reasoning = {r["subset"] for r in rows[PREFERENCES] if SECTION_OF.get(r["subset"]) == "Reasoning"}
    assert "math-prm" in reasoning
    assert any(s.startswith("hep-") for s in reasoning)


def test_chosen_differs_from_rejected(rows):
    same = [r["id"] for r in rows[PREFERENCES] if normalize(r["chosen"]) == normalize(r["rejected"])]
    assert same == []


@pytest.mark.parametrize("path", list(FIELDS), ids=lambda p: p.name)
def test_no_prompt_is_a_training_seed_prompt(rows, seed_prompts, path):
    overlap = [r["prompt"] for r in rows[path] if normalize(r["prompt"]) in seed_prompts]
    assert overlap == [], f"{path.name}: prompts also in {MESSAGES.name}"


def test_preference_and_eval_prompts_do_not_overlap(rows):
    preference_prompts = {normalize(r["prompt"]) for r in rows[PREFERENCES]}
    overlap = [r["prompt"] for r in rows[EVAL_PROMPTS] if normalize(r["prompt"]) in preference_prompts]
    assert overlap == []


def test_prompt_pool_keeps_its_id_style(rows):
    ids = [r["prompt_id"] for r in rows[PROMPT_POOL]]
    assert [i for i in ids if not re.fullmatch(r"pool-\d{3}", i)] == []


def test_prompt_pool_holds_every_iteration_of_the_recipes_that_draw_from_it(recipes):
    """Each recipe on the shipped pool takes `prompts.per_iteration` (or its schedule) new prompts per iteration,
    none twice and none from the eval sets: the pool must hold them all (the check a run makes before any work)."""
    users = [
        cfg
        for cfg in recipes.values()
        if enum_value(cfg.prompts.source) == "pool" and same_file(cfg.prompts.pool, PROMPT_POOL)
    ]
    assert users, "no recipe draws from the shipped pool"
    for cfg in users:
        check_pool_size(cfg)


def test_prompt_pool_prompts_are_short(rows):
    lengths = {r["prompt_id"]: len(r["prompt"].split()) for r in rows[PROMPT_POOL]}
    outside = {i: n for i, n in lengths.items() if not MIN_POOL_WORDS <= n <= MAX_POOL_WORDS}
    assert outside == {}, f"word counts outside {MIN_POOL_WORDS}..{MAX_POOL_WORDS}"


@pytest.mark.parametrize("path", [EVAL_PROMPTS, PREFERENCES], ids=lambda p: p.name)
def test_prompt_pool_shares_no_prompt_with_the_evaluation_data(rows, path):
    held_out = {normalize(r["prompt"]) for r in rows[path]}
    overlap = [r["prompt_id"] for r in rows[PROMPT_POOL] if normalize(r["prompt"]) in held_out]
    assert overlap == [], f"{PROMPT_POOL.name}: prompts also in {path.name}"
