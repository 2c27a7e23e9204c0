import itertools
import random
from fractions import Fraction

import pytest
from omegaconf import OmegaConf
from rouge_score import rouge_scorer, tokenizers

from srlm.config.schema import PromptsConfig
from srlm.data.near_duplicates import NearDuplicateIndex, rouge_l, tokenize
from srlm.stages.prompts import keep_instruction, keep_new


def test_self_instruct_filters():
    pc = OmegaConf.structured(PromptsConfig)
    kept = ["How do I bake bread at home?"]
    assert keep_instruction("Explain how tides work.", kept, set(), pc) is None
    assert keep_instruction("Hi", kept, set(), pc) == "length"
    assert keep_instruction("Describe this picture of a cat.", kept, set(), pc) == "bad_word"
    assert keep_instruction("How do I bake bread at home??", kept, set(), pc) == "similar"
    assert keep_instruction("What is the capital of Peru?", kept, {"what is the capital of peru?"}, pc) == "duplicate"


# Near-duplicate filter: ROUGE-L F-measure as Self-Instruct scores it with rouge-score, decided the same way.

SCORER = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
TEXTS = [
    "",
    "   ",
    "?!",
    "Hi",
    "hi",
    "HI!",
    "Explain how tides work.",
    "explain HOW tides work???",
    "Explain how the tides work, step by step.",
    "Write a poem. Write a poem. Write a poem.",
    "write write write a a poem",
    "poem a write",
    "What's 2+2? And 3*3?",
    "what s 2 2 and 3 3",
    "e-mail vs. email: don't, can't, won't",
    "Naïve café résumé — über straße",
    "naive cafe resume uber strasse",
    "Ⅻ ½ ١٢٣ ﬁne \u212a \u0130stanbul",  # the Kelvin sign and a dotted capital I lower-case to ASCII letters
    "東京 の 天気 は？ tokyo weather",
    "emoji 😀 test 😀 emoji",
    "tab\tseparated\nnew line words",
    "a b c d e f g h i j",
    "a b c d e f g x y z",
]


def reference_fmeasure(a: str, b: str) -> float:
    return SCORER.score(a, b)["rougeL"].fmeasure


def test_tokens_are_rouge_scores_default_tokens():
    reference = tokenizers.DefaultTokenizer(use_stemmer=False)
    for text in TEXTS:
        assert tokenize(text) == reference.tokenize(text), text


def test_rouge_l_is_rouge_scores_fmeasure_on_varied_pairs():
    for a, b in itertools.product(TEXTS, repeat=2):
        assert rouge_l(a, b) == reference_fmeasure(a, b), (a, b)
    rng = random.Random(0)
    words = ["the", "a", "cat", "Cat", "cat.", "sat", "on", "mat", "mat!", "dog", "ran", "1", "x-y", "é"]
    for _ in range(1500):  # short texts over few words: many repeated tokens and long common subsequences
        a, b = (" ".join(rng.choices(words, k=rng.randint(0, 14))) for _ in range(2))
        assert rouge_l(a, b) == reference_fmeasure(a, b), (a, b)


def lcs_pair(lcs: int, m: int, n: int) -> tuple[str, str]:
    """Texts of m and n tokens whose longest common subsequence has `lcs` tokens."""
    seen = [f"t{i}" for i in range(m)]
    return " ".join(seen), " ".join(seen[:lcs] + [f"u{i}" for i in range(n - lcs)])


def test_near_duplicate_decisions_match_rouge_score_at_and_around_the_threshold():
    decided = set()
    for m, n in itertools.product(range(1, 41), repeat=2):
        for lcs in range(min(m, n) + 1):
            if abs(2 * lcs / (m + n) - 0.7) > 0.03:
                continue
            seen, text = lcs_pair(lcs, m, n)
            expected = reference_fmeasure(text, seen) > 0.7  # Self-Instruct: dropped when above 0.7
            assert NearDuplicateIndex(0.7, [seen]).is_near_duplicate(text) == expected, (lcs, m, n)
            if Fraction(2 * lcs, m + n) == Fraction(7, 10):
                decided.add(expected)
    assert decided == {True, False}  # exactly at 0.7, rouge-score's rounding decides both ways; so does the index


def self_instruct_like(rng: random.Random, n_seeds: int, n_generated: int) -> tuple[list[str], list[str]]:
    """Seed prompts, then generated ones of which many are small edits of earlier prompts (near duplicates)."""
    verbs = ["Write", "Explain", "Describe", "List", "Summarize", "Compare", "Plan", "Translate"]
    words = "a the my small old new river city poem story recipe plan budget trip garden train school song".split()

    def fresh() -> str:
        return f"{rng.choice(verbs)} {' '.join(rng.choices(words, k=rng.randint(2, 10)))}{rng.choice(['', '.', '?'])}"

    seeds = [fresh() for _ in range(n_seeds)]
    generated: list[str] = []
    for _ in range(n_generated):
        if rng.random() < 0.5:
            tokens = rng.choice(seeds + generated).split()
            for _ in range(rng.randint(1, 3)):  # up to 3 edits: scores on both sides of 0.7, and at it
                tokens[rng.randrange(len(tokens))] = rng.choice(words + ["", "AND", "it's"])
            generated.append(" ".join(tokens))
        else:
            generated.append(fresh())
    return seeds, generated


def test_index_keeps_what_rouge_scores_self_instruct_loop_keeps():
    seeds, generated = self_instruct_like(random.Random(1), 40, 300)
    seen, expected = list(seeds), []
    for text in generated:  # Self-Instruct's filter
        if max(SCORER.score(text, s)["rougeL"].fmeasure for s in seen) > 0.7:
            continue
        seen.append(text)
        expected.append(text)
    index, kept = NearDuplicateIndex(0.7, seeds), []
    for text in generated:
        if not index.is_near_duplicate(text):
            index.add(text)
            kept.append(text)
    assert kept == expected
    assert 50 < len(kept) < 250 and len(index) == len(seeds) + len(kept)


def test_keep_new_filters_against_seeds_and_prompts_kept_in_the_same_batch():
    pc = OmegaConf.structured(PromptsConfig)
    seeds = ["How do I bake bread at home?"]
    outs = [
        [{"text": "Plan a three day trip to Lisbon.\nTask 9: more", "finish_reason": "stop"}],
        [{"text": "How do I bake bread at home quickly?", "finish_reason": "stop"}],  # F = 12/13 with the seed
        [{"text": "Plan a three day trip to Porto.", "finish_reason": "stop"}],  # F = 6/7 with the first
        [{"text": "Name three rivers in Africa.", "finish_reason": "stop"}],
        [{"text": "Hi", "finish_reason": "stop"}],
    ]
    kept, counts = [], {"generated": 0, "cut": 0, "length": 0, "bad_word": 0, "duplicate": 0, "similar": 0}
    index = NearDuplicateIndex(pc.max_similarity, seeds)
    keep_new(outs, kept, index, set(), pc, counts)
    assert kept == ["Plan a three day trip to Lisbon.", "Name three rivers in Africa."]
    assert counts == {"generated": 5, "cut": 0, "length": 1, "bad_word": 0, "duplicate": 0, "similar": 2}
    assert len(index) == 3


def test_keep_new_keeps_whole_instructions_and_drops_cut_ones():
    pc = OmegaConf.structured(PromptsConfig)
    multi_line = "Summarize this email for my manager:\nDear team, the launch moves to May."
    outs = [
        [{"text": "Write a guide to Windows Task Scheduler for beginners.\nTask", "finish_reason": "stop"}],
        [{"text": multi_line + "\nTask", "finish_reason": "stop"}],
        [{"text": "List every prime number below one thousand and then explain", "finish_reason": "length"}],
    ]
    kept, counts = [], {"generated": 0, "cut": 0, "length": 0, "bad_word": 0, "duplicate": 0, "similar": 0}
    keep_new(outs, kept, NearDuplicateIndex(pc.max_similarity), set(), pc, counts)
    assert kept == ["Write a guide to Windows Task Scheduler for beginners.", multi_line]
    assert counts["cut"] == 1 and counts["generated"] == 3


def test_near_duplicate_index_edges():
    index = NearDuplicateIndex(0.7)
    assert not index.is_near_duplicate("anything at all")  # empty index
    index.add("")
    index.add("?!")
    assert len(index) == 2 and not index.is_near_duplicate("") and not index.is_near_duplicate("?!")
    index.add("One")
    assert index.is_near_duplicate("one.") and not index.is_near_duplicate("one two")  # F = 1, then 2/3
    assert NearDuplicateIndex(0.0, ["x y"]).is_near_duplicate("y z") and not NearDuplicateIndex(
        1.0, ["a"]
    ).is_near_duplicate("a")
    with pytest.raises(ValueError, match="threshold"):
        NearDuplicateIndex(1.5)


def test_pool_and_eval_prompts_over_the_token_limit_are_left_out_and_counted(tmp_path, capsys):
    import json

    from srlm.config.compose import compose
    from srlm.core.paths import RunPaths
    from srlm.evaluation.tasks import within_prompt_limit
    from srlm.stages import current_model
    from srlm.stages.prompts import from_pool

    limit = 40
    huge = "tell me everything " * 100_000  # 1.9 MB
    rows = [{"prompt_id": f"p{i}", "prompt": f"Question number {i} about tides?"} for i in range(6)]
    rows[2]["prompt"] = huge
    rows[4]["prompt"] = "word " * (limit + 1)  # just over: fewer bytes would fit without a tokenizer
    pool = tmp_path / "pool.jsonl"
    pool.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = compose(
        ["recipe=smoke", f"prompts.pool={pool}", "prompts.per_iteration=4", f"data.max_prompt_tokens={limit}"]
    )
    chosen, stats = from_pool(cfg, RunPaths(tmp_path).iteration(0), set())
    assert stats["too_long"] == 2 and len(chosen) == 4
    assert all(len(p["prompt"]) < 100 for p in chosen)
    assert "2 prompt(s) longer than data.max_prompt_tokens=40 tokens left out" in capsys.readouterr().out
    kept, left_out = within_prompt_limit(cfg, rows, current_model(cfg, RunPaths(tmp_path).iteration(0)), "set")
    assert left_out == 2 and [p["prompt_id"] for p in kept] == ["p0", "p1", "p3", "p5"]


def test_a_pool_with_fewer_prompts_than_asked_is_one_line_and_a_metric(tmp_path, capsys):
    import json

    from srlm.config.compose import compose
    from srlm.core.paths import RunPaths
    from srlm.stages.prompts import from_pool

    pool = tmp_path / "pool.jsonl"
    pool.write_text("".join(json.dumps({"prompt": f"Question number {i} about tides?"}) + "\n" for i in range(3)))
    cfg = compose(["recipe=smoke", f"prompts.pool={pool}", "prompts.per_iteration=5"])
    chosen, stats = from_pool(cfg, RunPaths(tmp_path).iteration(0), set())
    assert len(chosen) == 3 and stats["shortfall"] == 2
    assert "pool prompts: 3 of the 5 asked (2 short)" in capsys.readouterr().out
