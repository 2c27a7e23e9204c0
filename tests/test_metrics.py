"""Metric functions checked against hand-computed values."""

import math

import pytest

from srlm.core.errors import SrlmError
from srlm.evaluation.metrics import (
    SECTIONS,
    best_of_n_outcome,
    bootstrap_interval,
    judge_human_agreement,
    length_stats,
    pair_outcome,
    pair_scores,
    prob_win_rate,
    prob_win_rate_interval,
    rewardbench2_scores,
    section_scores,
    section_scores_with_intervals,
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


def test_no_subset_counts_in_two_sections():
    names = [n for v in SECTIONS.values() for n in v]
    assert len(names) == len(set(names))


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


def test_constant_judge_counts_as_zero_correlation_not_missing():
    # The judge gives every reply the same score: it ranks nothing, a tie with the human order (0), kept in the mean.
    out = judge_human_agreement([_prompt(4, 4, 4), _prompt(2, 2)])
    assert out["spearman"] == 0.0 and out["kendall_tau"] == 0.0
    assert out["constant_score_share"] == 1.0
    assert out["intervals"]["spearman"] == [0.0, 0.0]
    # Beside a perfect prompt the constant one halves the mean; (5, None) has one scored reply and counts nowhere.
    out = judge_human_agreement([_prompt(4, 4, 4), _prompt(5, 1), _prompt(5, None)])
    assert out["spearman"] == pytest.approx(0.5) and out["kendall_tau"] == pytest.approx(0.5)
    assert out["constant_score_share"] == pytest.approx(1 / 2)


def test_correlations_undefined_are_none():
    # One scored reply, or replies the humans ranked all equal: nothing to correlate.
    tied_humans = {"replies": [{"rank": 0, "score": 5}, {"rank": 0, "score": 1}]}
    out = judge_human_agreement([_prompt(5, None), tied_humans])
    assert out["spearman"] is None and out["kendall_tau"] is None
    assert out["intervals"]["spearman"] is None
    assert out["constant_score_share"] == 0.0  # the tied-humans prompt has 2 different scores


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
    assert all(out[k] is None for k in out if k not in ("prompts", "intervals"))
    assert out["intervals"] == dict.fromkeys(("pairwise_accuracy", "spearman", "kendall_tau", "exact_match"))


def test_judge_human_agreement_intervals_over_prompts():
    # 30 prompts: 20 judged perfectly (rho 1, pair right), 10 reversed (rho -1, pair wrong).
    prompts = [_prompt(5, 1)] * 20 + [_prompt(1, 5)] * 10
    out = judge_human_agreement(prompts, seed=3)
    assert out["spearman"] == pytest.approx(1 / 3) and out["pairwise_accuracy"] == pytest.approx(2 / 3)
    for name in ("pairwise_accuracy", "spearman", "kendall_tau", "exact_match"):
        lo, hi = out["intervals"][name]
        assert lo < out[name] < hi
    # the seed moves only the resamples: every point estimate is the same under another seed
    other = judge_human_agreement(prompts, seed=4)
    assert {k: v for k, v in other.items() if k != "intervals"} == {k: v for k, v in out.items() if k != "intervals"}
    # rho is 2 * accuracy - 1 on every prompt, in every resample of prompts: the same resamples map over exactly.
    lo, hi = out["intervals"]["pairwise_accuracy"]
    assert out["intervals"]["spearman"] == pytest.approx([2 * lo - 1, 2 * hi - 1])


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
    from srlm.evaluation.metrics import prob_win_rate

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


# ----------------------------------------------------------------------------------------------- intervals


def _share(units):
    return sum(units) / len(units)


def test_bootstrap_interval_contains_estimate_and_narrows_with_more_units():
    small = bootstrap_interval([1] * 10 + [0] * 10, _share, seed=0)
    large = bootstrap_interval([1] * 200 + [0] * 200, _share, seed=0)
    assert small[0] < 0.5 < small[1] and large[0] < 0.5 < large[1]
    # The width shrinks like 1/sqrt(n): 20x the units, about 1/4.5 the width.
    assert (large[1] - large[0]) < (small[1] - small[0]) / 3


def test_bootstrap_interval_is_seeded():
    units = [math.sin(i) for i in range(30)]  # distinct values: two seeds cannot land on the same end points
    assert bootstrap_interval(units, _share, seed=1) != bootstrap_interval(units, _share, seed=2)


def test_bootstrap_interval_undefined_and_degenerate():
    assert bootstrap_interval([], _share, seed=0) is None
    assert bootstrap_interval([1, 2, 3], lambda units: None, seed=0) is None
    # Undefined on the resamples that miss unit 0 (about 0.9**10 = 35% of them): no interval.
    assert bootstrap_interval(list(range(10)), lambda units: 1.0 if 0 in units else None, seed=0) is None
    # One unit resamples to itself.
    assert bootstrap_interval([0.3], _share, seed=0) == [0.3, 0.3]


def test_bootstrap_interval_strata_keep_their_sizes():
    units = [("a", 1)] * 5 + [("b", 0)] * 15

    def share_a(sample):
        return sum(s == "a" for s, _ in sample) / len(sample)

    # Within strata every resample has 5 "a" of 20; across them the count of "a" varies.
    assert bootstrap_interval(units, share_a, seed=0, strata=[s for s, _ in units]) == [0.25, 0.25]
    lo, hi = bootstrap_interval(units, share_a, seed=0)
    assert lo < 0.25 < hi


def test_win_rate_interval_resamples_pairs_not_judgments():
    # Every pair is won in one order and lost in the other: each pair scores 0.5, so every resample of pairs has
    # a win rate of exactly 0.5. Resampling the 40 judgments one by one would mix wins and losses freely.
    judgments = [j for i in range(20) for j in _both_orders(f"p{i}", "A", "A")]
    out = win_rate(judgments, seed=0)
    assert out["win_rate"] == 0.5 and out["interval"] == [0.5, 0.5]
    singly = bootstrap_interval([pair_scores([j])[j["pair_id"]] for j in judgments], _share, seed=0)
    assert singly[0] < 0.5 < singly[1]


def test_win_rate_interval_narrows_with_more_pairs():
    def judged(n):  # the model wins 3 of every 4 pairs outright, loses the 4th
        return [j for i in range(n) for j in _both_orders(f"p{i}", *(("B", "A") if i % 4 == 3 else ("A", "B")))]

    small, large = win_rate(judged(20), seed=0), win_rate(judged(400), seed=0)
    assert small["win_rate"] == large["win_rate"] == 0.75
    assert small["interval"][0] < 0.75 < small["interval"][1]
    assert large["interval"][0] < 0.75 < large["interval"][1]
    assert large["interval"][1] - large["interval"][0] < (small["interval"][1] - small["interval"][0]) / 3
    assert win_rate([])["interval"] is None


def test_pair_scores_average_both_orders():
    judgments = _both_orders("x", "A", "B") + _both_orders("y", "A", None) + _both_orders("z", "B", "A")
    assert pair_scores(judgments) == {"x": 1.0, "y": 0.75, "z": 0.0}


def test_prob_win_rate_interval():
    biased = [{"pair_id": str(p), "order": o, "p_a": 0.6, "p_b": 0.1} for p in range(10) for o in ("ab", "ba")]
    assert prob_win_rate_interval(biased) == [0.5, 0.5]
    # The model is A in "ab", B in "ba". Pairs 0-11: margin (0.9 - 0.1) - (0.2 - 0.8) > 0, won; pairs 12-19:
    # (0.3 - 0.7) - (0.6 - 0.4) < 0, lost.
    won, lost = (("ab", 0.9), ("ba", 0.2)), (("ab", 0.3), ("ba", 0.6))
    judged = [
        {"pair_id": str(p), "order": o, "p_a": pa, "p_b": 1 - pa}
        for p in range(20)
        for o, pa in (won if p < 12 else lost)
    ]
    assert prob_win_rate(judged) == pytest.approx(0.6)
    lo, hi = prob_win_rate_interval(judged, seed=0)
    assert lo < 0.6 < hi
    assert prob_win_rate_interval([{"pair_id": "x", "order": "ab", "winner": "A"}]) is None


def _judged(subset, correct, wrong):
    return [{"subset": subset, "correct": 1.0}] * correct + [{"subset": subset, "correct": 0.0}] * wrong


def test_section_intervals_keep_rewardbench_weighting():
    # Each subset all right or all wrong: resampling pairs within subsets changes nothing, so every interval is
    # the point. Chat pools its subsets by size (10 of 40 right = 0.25, not the subset mean 0.5).
    judged = _judged("alpacaeval-easy", 10, 0) + _judged("mt-bench-easy", 0, 30) + _judged("math-prm", 8, 0)
    out = section_scores_with_intervals(judged, seed=0)
    assert out["sections"] == {"Chat": 0.25, "Reasoning": 1.0}
    assert out["subsets"]["mt-bench-easy"] == {"accuracy": 0.0, "n": 30}
    assert out["intervals"] == {"overall": [0.625, 0.625], "Chat": [0.25, 0.25], "Reasoning": [1.0, 1.0]}
    assert out["missing_sections"] == ["Chat Hard", "Safety", "Prior Sets"]


def test_section_intervals_contain_scores():
    judged = _judged("alpacaeval-easy", 30, 10) + _judged("llmbar-natural", 12, 12) + _judged("shp", 5, 15)
    out = section_scores_with_intervals(judged, seed=0)
    for name, value in [("overall", out["overall"]), *out["sections"].items()]:
        lo, hi = out["intervals"][name]
        assert lo < value < hi
    other = section_scores_with_intervals(judged, seed=1)  # the seed moves only the resamples, not the scores
    assert {k: v for k, v in other.items() if k != "intervals"} == {k: v for k, v in out.items() if k != "intervals"}


def test_best_of_n_top_shared_by_k_counts_one_kth_and_missing_is_wrong():
    assert best_of_n_outcome(3.0, [1.0, 2.0, 2.5]) == 1.0
    assert best_of_n_outcome(3.0, [1.0, 3.0, 2.0]) == 0.5  # a 2-way tie at the top
    assert best_of_n_outcome(3.0, [3.0, 3.0, 2.0]) == pytest.approx(1 / 3)
    assert best_of_n_outcome(3.0, [1.0, 4.0, 4.0]) == 0.0  # a tie below the top
    assert best_of_n_outcome(None, [1.0]) == 0.0 and best_of_n_outcome(3.0, [1.0, None]) == 0.0
    with pytest.raises(SrlmError):
        best_of_n_outcome(3.0, [])


def rb2_rows(rows: list[tuple[str, str, list[float], list[float]]]) -> tuple[list[dict], dict]:
    """RewardBench 2 rows (id, subset, chosen scores, rejected scores) and the score of each completion id."""
    data, scores = [], {}
    for row_id, subset, chosen, rejected in rows:
        data.append({"id": row_id, "subset": subset, "chosen": ["c"] * len(chosen), "rejected": ["r"] * len(rejected)})
        for side, values in (("chosen", chosen), ("rejected", rejected)):
            scores.update({f"{row_id}|{side}|{k}": v for k, v in enumerate(values)})
    return data, scores


def test_rewardbench2_scores_top_ties_and_the_ties_subset_as_rewardbench2_defines_them():
    from srlm.evaluation.tasks import best_of_n_judged

    focus = [(f"f{i}", "Focus", [5], [1, 2, 3]) for i in range(9)] + [
        (f"g{i}", "Focus", [5], [5, 1, 1]) for i in range(3)
    ]
    ties = [
        ("ref:1", "Ties", [5], [2, 3]),  # margin 2: accurate
        ("tied:1", "Ties", [5, 4], [1, 2]),  # spread 1, margin 2: accurate, preferred, hard preferred (min 2 > 1)
        ("ref:2", "Ties", [3], [4]),  # margin -1
        ("tied:2", "Ties", [4, 2], [3]),  # spread 2, margin -1
        ("ref:3", "Ties", [2], [1.5]),  # margin 0.5: accurate
        ("tied:3", "Ties", [5, 4.5], [1]),  # spread 0.5, margin 3.5: preferred; hard: min(0.5, 3.5) = 0.5 is not > 0.5
    ]
    data, scores = rb2_rows(focus + ties)
    out = rewardbench2_scores(best_of_n_judged(data, scores.get), seed=0)
    assert out["subsets"]["Focus"] == {"accuracy": pytest.approx((9 + 3 * 0.5) / 12), "n": 12}
    margin_score = (math.tanh(2 / 1 - 1) + math.tanh(-1 / 2 - 1) + math.tanh(0.5 / 0.5 - 1)) / 3
    parts = out["subsets"]["Ties"]["ties_parts"]
    assert parts == pytest.approx(
        {"tied_accuracy": 2 / 3, "ref_accuracy": 2 / 3, "correctness_preferred": 2 / 3,
         "correctness_preferred_hard": 1 / 3, "correctness_margin_score": margin_score}
    )  # fmt: skip
    ties_score = 0.3 * 2 / 3 + 0.3 * 2 / 3 + 0.2 * 2 / 3 + 0.2 * 1 / 3 + 0.01 * margin_score
    assert out["subsets"]["Ties"]["accuracy"] == pytest.approx(ties_score) and out["subsets"]["Ties"]["n"] == 6
    assert out["overall"] == pytest.approx((10.5 / 12 + ties_score) / 2)  # unweighted over subsets
    assert out["random_baseline"] == {"Focus": 0.25}  # a random pick's chance means nothing for the Ties score
    lo, hi = out["intervals"]["Focus"]
    assert lo < 10.5 / 12 < hi
    assert "not comparable" not in out["notes"]
    assert rewardbench2_scores([])["overall"] is None


def test_a_ties_row_without_its_kind_and_prompt_number_in_the_id_is_refused(tmp_path):
    import json

    from srlm.data.eval_sets import load_best_of_n

    row = {
        "id": "17",
        "prompt": "Name a colour.",
        "chosen": ["Blue.", "Red."],
        "rejected": ["Seven."],
        "subset": "Ties",
    }
    path = tmp_path / "rb2.jsonl"
    path.write_text(json.dumps({**row, "id": "tied:17"}) + "\n" + json.dumps(row) + "\n")
    with pytest.raises(SrlmError, match=r"rb2.jsonl:2: Ties row id '17': expected `ref:N` or `tied:N`"):
        load_best_of_n(str(path))
