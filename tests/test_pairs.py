from srlm.stages.pairs import build_pairs


def cands(*specs):
    return [{"prompt_id": p, "candidate_id": c, "prompt": f"q{p}", "text": t} for p, c, t in specs]


def test_highest_vs_lowest_and_ties_dropped():
    c = cands(("1", "1a", "aa"), ("1", "1b", "bbbb"), ("1", "1c", "c"), ("2", "2a", "x"), ("2", "2b", "y"))
    pairs, stats = build_pairs(c, {"1a": 3.0, "1b": 5.0, "1c": 1.0, "2a": 4.0, "2b": 4.0})
    assert [(p["chosen_id"], p["rejected_id"]) for p in pairs] == [("1b", "1c")]
    assert stats["dropped_ties"] == 1 and stats["pairs"] == 1
    assert stats["mean_score_gap"] == 4.0


def test_missing_scores_never_chosen():
    c = cands(("1", "1a", "a"), ("1", "1b", "b"), ("1", "1c", "c"), ("2", "2a", "x"), ("2", "2b", "y"))
    pairs, stats = build_pairs(c, {"1a": None, "1b": 2.0, "1c": 1.0, "2a": None, "2b": 3.0})
    assert [(p["chosen_id"], p["rejected_id"]) for p in pairs] == [("1b", "1c")]
    assert stats["dropped_missing"] == 1


def test_length_control_prefers_shortest_near_top_and_longest_near_bottom():
    c = cands(("1", "1a", "a very long answer"), ("1", "1b", "short"), ("1", "1c", "bad"), ("1", "1d", "bad but long"))
    scores = {"1a": 5.0, "1b": 4.6, "1c": 1.0, "1d": 1.3}
    pairs, _ = build_pairs(c, scores, length_control=True, length_margin=0.1)  # bands: >= 4.6 and <= 1.4
    assert (pairs[0]["chosen_id"], pairs[0]["rejected_id"]) == ("1b", "1d")
    pairs, _ = build_pairs(c, scores, length_control=True, length_margin=0.05)  # >= 4.8 and <= 1.2
    assert (pairs[0]["chosen_id"], pairs[0]["rejected_id"]) == ("1a", "1c")
    pairs, _ = build_pairs(c, scores, length_control=False)
    assert (pairs[0]["chosen_id"], pairs[0]["rejected_id"]) == ("1a", "1c")
