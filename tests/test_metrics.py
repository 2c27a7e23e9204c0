"""Metric functions checked against hand-computed values."""

import math

import pytest

from srlm.errors import SrlmError
from srlm.metrics import (
    SECTIONS,
    judge_human_agreement,
    length_stats,
    pair_outcome,
    section_scores,
    subset_accuracy,
    win_rate,
)


def test_pair_outcome_tie_and_missing_are_incorrect():
    assert pair_outcome(2.0, 1.0) == 1.0
    assert pair_outcome(1.0, 2.0) == 0.0
    assert pair_outcome(3.0, 3.0) == 0.0
    assert pair_outcome(None, 1.0) == 0.0
    assert pair_outcome(1.0, None) == 0.0


def test_subset_accuracy_counts_ties_as_incorrect():
    pairs = [("a", 1.0, 0.0), ("a", 0.5, 0.5), ("a", None, 1.0), ("a", 2.0, 1.0), ("b", 0.0, 1.0)]
    rows = [{"subset": s, "correct": pair_outcome(c, r)} for s, c, r in pairs]
    # a: correct, tie, missing, correct -> 2/4; b: 0/1
    assert subset_accuracy(rows) == {"a": {"accuracy": 0.5, "n": 4}, "b": {"accuracy": 0.0, "n": 1}}


# RewardBench's sections and their subsets (allenai/reward-bench, `rewardbench/constants.py`: SUBSET_MAPPING
# and the prior preference sets).
REWARDBENCH = {
    "Chat": ["alpacaeval-easy", "alpacaeval-length", "alpacaeval-hard", "mt-bench-easy", "mt-bench-med"],
    "Chat Hard": [
        "mt-bench-hard",
        "llmbar-natural",
        "llmbar-adver-neighbor",
        "llmbar-adver-GPTInst",
        "llmbar-adver-GPTOut",
        "llmbar-adver-manual",
    ],
    "Safety": [
        "refusals-dangerous",
        "refusals-offensive",
        "xstest-should-refuse",
        "xstest-should-respond",
        "donotanswer",
    ],
    "Reasoning": ["math-prm", "hep-cpp", "hep-go", "hep-java", "hep-js", "hep-python", "hep-rust"],
    "Prior Sets": ["anthropic_helpful", "anthropic_hhh", "shp", "summarize"],
}


def test_sections_are_rewardbench_sections():
    assert list(SECTIONS) == list(REWARDBENCH)  # the order `missing_sections` reports them in
    assert {k: sorted(v) for k, v in SECTIONS.items()} == {k: sorted(v) for k, v in REWARDBENCH.items()}
    names = [n for v in SECTIONS.values() for n in v]
    assert len(names) == len(set(names)), "a subset listed twice would count twice"


def test_section_scores_weighting_and_missing_section():
    subsets = {
        "alpacaeval-easy": {"accuracy": 0.9, "n": 100},
        "mt-bench-easy": {"accuracy": 0.5, "n": 20},
        "llmbar-natural": {"accuracy": 0.6, "n": 50},
        "mt-bench-hard": {"accuracy": 0.3, "n": 10},
        "math-prm": {"accuracy": 0.8, "n": 100},
        "hep-python": {"accuracy": 0.5, "n": 30},
        "hep-go": {"accuracy": 0.2, "n": 10},
        "shp": {"accuracy": 0.7, "n": 10},
        "anthropic_hhh": {"accuracy": 0.4, "n": 90},
        "donotanswer": {"accuracy": 1.0, "n": 0},  # no examples: counts as absent
        "my-custom": {"accuracy": 1.0, "n": 5},
    }
    out = section_scores(subsets)
    s = out["sections"]
    # Chat, pooled over examples: (0.9*100 + 0.5*20) / 120 = 100/120
    assert s["Chat"] == pytest.approx(100 / 120)
    # Chat Hard: (0.6*50 + 0.3*10) / 60 = 33/60 = 0.55
    assert s["Chat Hard"] == pytest.approx(0.55)
    # Reasoning: code pooled (0.5*30 + 0.2*10)/40 = 0.425; (0.8 + 0.425)/2 = 0.6125 (pooling all would be 97/140)
    assert s["Reasoning"] == pytest.approx(0.6125)
    # Prior Sets: unweighted (0.7 + 0.4)/2 = 0.55 (pooling would be 0.43)
    assert s["Prior Sets"] == pytest.approx(0.55)
    # Safety has no data: missing, not 0, and left out of overall
    assert "Safety" not in s
    assert out["missing_sections"] == ["Safety"]
    # overall = (100/120 + 0.55 + 0.6125 + 0.5*0.55) / 3.5
    assert out["overall"] == pytest.approx((100 / 120 + 0.55 + 0.6125 + 0.275) / 3.5)
    # every RewardBench subset without examples is missing (donotanswer has n == 0), in section order
    assert out["missing_subsets"] == [
        *("alpacaeval-length", "alpacaeval-hard", "mt-bench-med"),
        *("llmbar-adver-neighbor", "llmbar-adver-GPTInst", "llmbar-adver-GPTOut", "llmbar-adver-manual"),
        *("refusals-dangerous", "refusals-offensive", "xstest-should-refuse", "xstest-should-respond", "donotanswer"),
        *("hep-cpp", "hep-java", "hep-js", "hep-rust"),
        *("anthropic_helpful", "summarize"),
    ]
    assert out["unmapped_subsets"] == ["my-custom"]


def test_reasoning_with_one_side_only():
    only_code = section_scores({"hep-js": {"accuracy": 0.25, "n": 4}, "hep-rust": {"accuracy": 0.75, "n": 4}})
    assert only_code["sections"] == {"Reasoning": 0.5}
    assert only_code["overall"] == 0.5
    only_math = section_scores({"math-prm": {"accuracy": 0.9, "n": 10}})
    assert only_math["sections"] == {"Reasoning": 0.9}


def test_section_scores_empty_is_missing_not_zero():
    out = section_scores({})
    assert out["sections"] == {} and out["overall"] is None
    assert out["missing_sections"] == list(SECTIONS)


def _prompt(*scored):
    """Replies in human rank order (rank 0 first) with the given judge scores."""
    return {"replies": [{"rank": rank, "score": score} for rank, score in enumerate(scored)]}


def test_correlations_perfect_reversed_and_intermediate():
    assert judge_human_agreement([_prompt(5, 4, 3, 1)])["spearman"] == pytest.approx(1.0)
    assert judge_human_agreement([_prompt(5, 4, 3, 1)])["kendall_tau"] == pytest.approx(1.0)
    assert judge_human_agreement([_prompt(1, 2, 3)])["spearman"] == pytest.approx(-1.0)
    assert judge_human_agreement([_prompt(1, 2, 3)])["kendall_tau"] == pytest.approx(-1.0)
    # scores (3, 1, 2) vs -rank (0, -1, -2): score ranks (3, 1, 2), -rank ranks (3, 2, 1), d = (0, -1, 1)
    # spearman = 1 - 6*2 / (3*(9-1)) = 0.5; kendall: 2 concordant, 1 discordant of 3 pairs -> 1/3
    out = judge_human_agreement([_prompt(3, 1, 2)])
    assert out["spearman"] == pytest.approx(0.5)
    assert out["kendall_tau"] == pytest.approx(1 / 3)


def test_correlations_undefined_are_none():
    out = judge_human_agreement([_prompt(4, 4, 4), _prompt(5, None)])
    assert out["spearman"] is None and out["kendall_tau"] is None


def test_judge_human_agreement_small_example():
    prompts = [
        _prompt(5, 3, 3),  # pairs: 2 of 3 right (3 vs 3 is a tie); not an exact match; best >= 4.5
        _prompt(2, None),  # no scored pair; not all scored; best < 4.5
        _prompt(4, 5),  # pair wrong; no exact match; best < 4.5
        _prompt(5, 1),  # pair right; exact match; best >= 4.5
    ]
    out = judge_human_agreement(prompts)
    assert out["pairwise_accuracy"] == pytest.approx(3 / 5)
    assert out["exact_match"] == pytest.approx(1 / 3)
    assert out["five_best"] == pytest.approx(2 / 4)
    assert out["parse_rate"] == pytest.approx(8 / 9)
    assert out["prompts"] == 4
    # prompt 1: score ranks (3, 1.5, 1.5) vs (3, 2, 1) -> rho = 1.5 / sqrt(1.5 * 2) = sqrt(3)/2,
    # tau-b = (2 - 0) / sqrt((3 - 1) * 3) = 2/sqrt(6); prompt 3: -1, -1; prompt 4: 1, 1; prompt 2 undefined
    assert out["spearman"] == pytest.approx((math.sqrt(3) / 2 - 1 + 1) / 3)
    assert out["kendall_tau"] == pytest.approx((2 / math.sqrt(6) - 1 + 1) / 3)


def test_judge_human_agreement_empty():
    out = judge_human_agreement([])
    assert out["prompts"] == 0
    assert all(out[k] is None for k in out if k != "prompts")


def _both_orders(pair_id, winner_ab, winner_ba):
    return [
        {"pair_id": pair_id, "order": "ab", "winner": winner_ab},
        {"pair_id": pair_id, "order": "ba", "winner": winner_ba},
    ]


def test_win_rate_position_biased_judge_is_exactly_half():
    judgments = _both_orders("p1", "A", "A") + _both_orders("p2", "A", "A") + _both_orders("p3", "A", "A")
    out = win_rate(judgments)
    assert out["win_rate"] == 0.5
    assert (out["wins"], out["losses"], out["ties"], out["pairs"]) == (3, 3, 0, 3)
    assert out["position_a_rate"] == 1.0


def test_win_rate_judge_preferring_model_and_ties():
    assert win_rate(_both_orders("p1", "A", "B") + _both_orders("p2", "A", "B"))["win_rate"] == 1.0
    out = win_rate(_both_orders("p1", None, "B") + _both_orders("p2", "B", None))
    # scores: 0.5, 1, 0, 0.5 -> 2/4
    assert out["win_rate"] == 0.5
    assert (out["wins"], out["losses"], out["ties"]) == (1, 1, 2)
    assert out["position_a_rate"] == 0.0


def test_win_rate_empty_and_invalid():
    assert win_rate([])["win_rate"] is None and win_rate([])["position_a_rate"] is None
    with pytest.raises(SrlmError, match="order"):
        win_rate([{"pair_id": "p", "order": "xy", "winner": "A"}])
    with pytest.raises(SrlmError, match="winner"):
        win_rate([{"pair_id": "p", "order": "ab", "winner": "C"}])


def test_length_stats():
    assert length_stats([1, 2, 3, 10]) == {"mean": 4.0, "median": 2.5}
    assert length_stats([7]) == {"mean": 7.0, "median": 7.0}
    assert length_stats([]) == {"mean": None, "median": None}


def test_prob_win_rate_cancels_position_bias():
    from srlm.metrics import prob_win_rate

    # A judge that always puts 0.6 on "A" and 0.1 on "B", whatever the responses: exactly 0.5.
    biased = [{"pair_id": p, "order": o, "p_a": 0.6, "p_b": 0.1} for p in ("x", "y") for o in ("ab", "ba")]
    assert prob_win_rate(biased) == 0.5
    # Pair x: the model gains 0.5 as A and loses only 0.3 as B -> win; pair y: +0.1 - 0.4 -> loss.
    judged = [
        {"pair_id": "x", "order": "ab", "p_a": 0.7, "p_b": 0.2},
        {"pair_id": "x", "order": "ba", "p_a": 0.6, "p_b": 0.3},
        {"pair_id": "y", "order": "ab", "p_a": 0.5, "p_b": 0.4},
        {"pair_id": "y", "order": "ba", "p_a": 0.6, "p_b": 0.2},
    ]
    assert prob_win_rate(judged) == 0.5
    assert prob_win_rate(judged[:2]) == 1.0
    assert prob_win_rate([{"pair_id": "x", "order": "ab", "winner": "A"}]) is None
