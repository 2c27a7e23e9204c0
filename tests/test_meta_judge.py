from __future__ import annotations

import pytest

from srlm.core.errors import SrlmError
from srlm.rewarding.meta_judge import (
    CUE,
    PLACEHOLDERS,
    TEMPLATE,
    balance_scores,
    bradley_terry,
    cap_share,
    comparisons,
    judge_pairs,
    parse_meta_verdict,
    position_stats,
    ratings,
)
from srlm.rewarding.templates import fill, load_template


def judgment(candidate_id: str, sample: int, score: float | None, text: str = "") -> dict:
    return {"candidate_id": candidate_id, "sample": sample, "score": score, "text": text or f"{candidate_id}#{sample}"}


def judged(rows: list[dict], verdict) -> list[dict]:
    """Comparison rows with the winner a meta-judge `verdict(a_id, b_id)` gives."""
    return [{**r, "winner": verdict(r["a"], r["b"])} for r in rows]


def by_quality(quality: dict[str, int]):
    """A position-blind meta-judge: the judgment of higher quality wins in either order."""
    return lambda a, b: "A" if quality[a] > quality[b] else "B"


def always_a(a: str, b: str) -> str:
    return "A"


# ---------------------------------------------------------------------------------------------- template


def test_template_has_every_placeholder_and_no_unknown_one():
    text = load_template(str(TEMPLATE), PLACEHOLDERS)
    filled = fill(text, prompt="Q?", response="R.", rubric="RUBRIC", judgment_a="JA", judgment_b="JB")
    assert "{" not in filled
    assert f"{CUE} A" in filled and f"{CUE} B" in filled


# ----------------------------------------------------------------------------------------------- parsing

VERDICTS = {
    "Judgment A misreads the response.\nBetter judgment: B": "B",
    "**Better judgment:** B": "B",
    "Better judgment: (A)": "A",
    "Better judgment: Judgment B": "B",
    "better judgment: a": "A",
    "Better judgment: A.": "A",
    "Better judgement: [B]": "B",
    "Better judgment: A\nOn reflection...\nBetter judgment: B": "B",  # the last cue decides
    "Better judgment: A or B": None,
    "Better judgment: A/B": None,
    "Better judgment: both": None,
    "better judgment: a tie": None,
    "Better judgment:": None,
    "Verdict: A": None,
    "I prefer A.": None,
    "": None,
}


@pytest.mark.parametrize("text,expected", list(VERDICTS.items()))
def test_parse_meta_verdict(text, expected):
    assert parse_meta_verdict(text) == expected


# ------------------------------------------------------------------------------------------- comparisons


def test_comparisons_skip_tied_and_thin_candidates_and_emit_both_orders():
    rows = [
        judgment("c1", 0, 4.0),
        judgment("c1", 1, 2.0),
        judgment("c1", 2, None),  # unscored: left out
        judgment("c1", 3, 5.0),
        judgment("tied", 0, 3.0),
        judgment("tied", 1, 3.0),
        judgment("thin", 0, 4.0),
        judgment("thin", 1, None),
    ]
    out = comparisons(rows)
    ids = ["c1/j0", "c1/j1", "c1/j3"]
    assert {r["candidate_id"] for r in out} == {"c1"}
    assert sorted((r["a"], r["b"]) for r in out) == sorted((a, b) for a in ids for b in ids if a != b)
    assert all(r["id"] == f"c1|{r['a']}|{r['b']}" for r in out)
    assert comparisons(list(reversed(rows))) == out


# ------------------------------------------------------------------------------------------------ ratings


def test_bradley_terry_round_robin_follows_win_counts():
    # a beats everyone, b beats c and d, c beats d: 3, 2, 1 and 0 wins.
    battles = [("a", "b"), ("a", "c"), ("a", "d"), ("b", "c"), ("b", "d"), ("c", "d")]
    rated = bradley_terry(["a", "b", "c", "d"], battles)
    assert sorted(rated, key=rated.get) == ["d", "c", "b", "a"]


def test_bradley_terry_symmetric_results_tie_and_idle_ids_get_1000():
    rated = bradley_terry(["a", "b", "c", "idle"], [("a", "b"), ("b", "a"), ("a", "c"), ("b", "c")])
    assert rated["a"] == rated["b"] > rated["c"]
    assert rated["idle"] == 1000
    assert bradley_terry(["a", "b"], []) == {"a": 1000, "b": 1000}


def test_bradley_terry_refuses_unknown_ids():
    with pytest.raises(SrlmError, match="ghost"):
        bradley_terry(["a"], [("a", "ghost")])


def test_ratings_per_candidate_keep_judgments_without_parsed_battles():
    rows = [
        {"id": "1", "candidate_id": "c1", "a": "c1/j0", "b": "c1/j1", "winner": "A"},
        {"id": "2", "candidate_id": "c1", "a": "c1/j1", "b": "c1/j0", "winner": "B"},
        {"id": "3", "candidate_id": "c1", "a": "c1/j1", "b": "c1/j2", "winner": None},
        {"id": "4", "candidate_id": "c2", "a": "c2/j0", "b": "c2/j1", "winner": None},
    ]
    rated = ratings(rows)
    assert set(rated) == {"c1", "c2"}
    assert rated["c1"]["c1/j0"] > rated["c1"]["c1/j2"] == 1000 > rated["c1"]["c1/j1"]
    assert rated["c2"] == {"c2/j0": 1000, "c2/j1": 1000}
    with pytest.raises(SrlmError, match="winner"):
        ratings([{**rows[0], "winner": "C"}])


# -------------------------------------------------------------------------------------------- judge pairs


def candidates() -> dict[str, dict]:
    return {
        "c1": {"prompt_id": "p1", "candidate_id": "c1", "prompt": "Q1", "text": "R1"},
        "c2": {"prompt_id": "p2", "candidate_id": "c2", "prompt": "Q2", "text": "R2"},
    }


def judge_prompt(candidate: dict) -> str:
    return f"JUDGE {candidate['prompt']} / {candidate['text']}"


def test_judge_pairs_choose_the_judgment_that_won_its_battles():
    judgments = [
        judgment("c1", 0, 5.0, "Generous and wrong. Score: 5"),
        judgment("c1", 1, 3.0, "Careful reading. Score: 3"),
        judgment("c1", 2, 1.0, "Harsh. Score: 1"),
    ]
    rows = judged(comparisons(judgments), by_quality({"c1/j0": 0, "c1/j1": 2, "c1/j2": 1}))
    (pair,) = judge_pairs(judgments, rows, candidates(), judge_prompt, margin=0.0)
    assert (pair["kind"], pair["prompt_id"], pair["candidate_id"]) == ("judge", "p1", "c1")
    assert pair["prompt"] == "JUDGE Q1 / R1"
    assert (pair["chosen_id"], pair["rejected_id"]) == ("c1/j1", "c1/j0")
    assert (pair["chosen"], pair["rejected"]) == ("Careful reading. Score: 3", "Generous and wrong. Score: 5")
    assert (pair["chosen_score"], pair["rejected_score"]) == (3.0, 5.0)
    assert pair["chosen_rating"] > pair["rejected_rating"]


def test_judge_pairs_prefer_shorter_judgment_within_the_margin():
    # Win counts 3, 2, 1, 0 in both orders: ratings symmetric about 1000, so at margin 0.5 the top band is
    # {j0, j1} and the bottom band {j2, j3}; j1 is the shortest of the top, j2 the longest of the bottom.
    judgments = [
        judgment("c1", 0, 5.0, "x" * 50),
        judgment("c1", 1, 4.0, "x" * 10),
        judgment("c1", 2, 2.0, "x" * 90),
        judgment("c1", 3, 1.0, "x" * 40),
    ]
    rows = judged(comparisons(judgments), by_quality({"c1/j0": 3, "c1/j1": 2, "c1/j2": 1, "c1/j3": 0}))
    (pair,) = judge_pairs(judgments, rows, candidates(), judge_prompt, margin=0.5)
    assert (pair["chosen_id"], pair["rejected_id"]) == ("c1/j1", "c1/j2")
    (pair,) = judge_pairs(judgments, rows, candidates(), judge_prompt, margin=0.0)
    assert (pair["chosen_id"], pair["rejected_id"]) == ("c1/j0", "c1/j3")


def test_position_biased_meta_judge_gives_no_judge_pairs():
    judgments = [judgment("c2", 0, 4.0), judgment("c2", 1, 2.0), judgment("c2", 2, 3.0)]
    rows = judged(comparisons(judgments), always_a)
    assert judge_pairs(judgments, rows, candidates(), judge_prompt, margin=0.0) == []


def test_judge_pairs_refuse_comparisons_of_unknown_judgments():
    rows = [{"id": "x", "candidate_id": "c1", "a": "c1/j0", "b": "c1/j9", "winner": "A"}]
    with pytest.raises(SrlmError, match="c1/j9"):
        judge_pairs([judgment("c1", 0, 4.0)], rows, candidates(), judge_prompt, margin=0.0)


# -------------------------------------------------------------------------------------- balance and share


def score_pair(n: int, chosen: float, rejected: float) -> dict:
    return {"id": n, "chosen_score": chosen, "rejected_score": rejected}


def test_balance_scores_equalizes_higher_and_lower_and_keeps_ties():
    pairs = [score_pair(n, 5.0, 2.0) for n in range(5)] + [score_pair(5, 1.0, 4.0), score_pair(6, 2.0, 3.0)]
    pairs.append(score_pair(7, 3.0, 3.0))
    kept, stats = balance_scores(pairs, seed=0)
    higher = [p for p in kept if p["chosen_score"] > p["rejected_score"]]
    lower = [p for p in kept if p["chosen_score"] < p["rejected_score"]]
    assert len(higher) == len(lower) == 2
    assert {5, 6, 7} <= {p["id"] for p in kept}
    assert [p["id"] for p in kept] == sorted(p["id"] for p in kept)
    assert stats == {
        "judge_pairs_before_balance": 8,
        "chosen_higher_share_before": 5 / 7,
        "chosen_higher_share_after": 0.5,
        "dropped_for_balance": 3,
    }
    assert balance_scores(pairs, seed=0) == (kept, stats)


def test_balance_scores_with_one_sided_pairs_keeps_only_ties():
    pairs = [score_pair(0, 5.0, 1.0), score_pair(1, 4.0, 1.0), score_pair(2, 2.0, 2.0)]
    kept, stats = balance_scores(pairs, seed=1)
    assert [p["id"] for p in kept] == [2]
    assert stats["chosen_higher_share_before"] == 1.0
    assert stats["chosen_higher_share_after"] is None
    assert stats["dropped_for_balance"] == 2


def test_cap_share_allows_exactly_the_boundary_and_keeps_order():
    pairs = [{"id": n} for n in range(10)]
    kept, stats = cap_share(pairs, actor_pairs=17, max_share=0.15, seed=0)  # 3 / (17 + 3) = 0.15; 4 / 21 > 0.15
    assert len(kept) == 3
    assert [p["id"] for p in kept] == sorted(p["id"] for p in kept)
    assert stats == {"judge_pairs_capped": 7, "judge_share": 3 / 20}


def test_cap_share_keeps_everything_under_the_cap_and_nothing_at_zero():
    pairs = [{"id": n} for n in range(2)]
    assert cap_share(pairs, actor_pairs=17, max_share=0.15, seed=0) == (
        pairs,
        {"judge_pairs_capped": 0, "judge_share": 2 / 19},
    )
    assert cap_share(pairs, actor_pairs=17, max_share=0.0, seed=0) == (
        [],
        {"judge_pairs_capped": 2, "judge_share": 0.0},
    )
    assert cap_share([], actor_pairs=0, max_share=0.5, seed=0) == ([], {"judge_pairs_capped": 0, "judge_share": None})


# ------------------------------------------------------------------------------------------ position bias


def test_position_stats_of_a_meta_judge_that_always_answers_a():
    judgments = [judgment("c1", s, float(s)) for s in range(4)]  # 6 judgment pairs, 12 comparisons
    stats = position_stats(judged(comparisons(judgments), always_a))
    assert stats["position_a_rate"] == 1.0
    assert stats["order_agreement"] == 0.0
    assert stats["parse_rate"] == 1.0
    assert (stats["comparisons"], stats["unparsed"], stats["order_pairs"]) == (12, 0, 6)
    low, high = stats["position_a_rate_interval"]
    assert 0.5 < low < 1.0 == high  # 12 of 12: clearly biased, yet not certain


def test_position_stats_of_a_consistent_meta_judge_with_unparsed_verdicts():
    judgments = [judgment("c1", 0, 1.0), judgment("c1", 1, 2.0), judgment("c1", 2, 3.0)]
    rows = judged(comparisons(judgments), by_quality({"c1/j0": 0, "c1/j1": 1, "c1/j2": 2}))
    rows[0]["winner"] = None  # one order of the first judgment pair unparsed: that pair leaves order_agreement
    stats = position_stats(rows)
    assert (stats["comparisons"], stats["unparsed"], stats["order_pairs"]) == (6, 1, 2)
    assert stats["parse_rate"] == 5 / 6
    assert stats["order_agreement"] == 1.0
    assert position_stats([]) == {
        "comparisons": 0,
        "unparsed": 0,
        "parse_rate": None,
        "position_a_rate": None,
        "position_a_rate_interval": None,
        "order_agreement": None,
        "order_pairs": 0,
    }


def test_probability_verdicts_are_decided_over_both_orders_so_a_constant_position_bias_cancels():
    from srlm.rewarding.meta_judge import combine_orders

    # always "A" when read alone (p_a > 0.5 in both orders), but x is likelier to win in both positions
    rows = [
        {"id": "c|x|y", "candidate_id": "c", "a": "x", "b": "y", "winner": "A", "p_a": 0.95},
        {"id": "c|y|x", "candidate_id": "c", "a": "y", "b": "x", "winner": "A", "p_a": 0.90},
        {"id": "c|x|z", "candidate_id": "c", "a": "x", "b": "z", "winner": "A", "p_a": 0.80},
        {"id": "c|z|x", "candidate_id": "c", "a": "z", "b": "x", "winner": "A", "p_a": 0.80},  # exactly even
        {"id": "c|y|z", "candidate_id": "c", "a": "y", "b": "z", "winner": "A", "p_a": 0.70},  # no mirror row
        {"id": "d|u|v", "candidate_id": "d", "a": "u", "b": "v", "winner": None, "p_a": None},  # no mass on A or B
        {"id": "d|v|u", "candidate_id": "d", "a": "v", "b": "u", "winner": "A", "p_a": 0.90},
    ]
    combined = combine_orders(rows)
    assert [r["winner"] for r in combined] == ["A", "B", None, None, None, None, None]
    assert [r["p_a"] for r in combined] == [r["p_a"] for r in rows]  # each order's own reading is kept
