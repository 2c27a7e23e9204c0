from __future__ import annotations

import pytest

from srlm.core.errors import SrlmError
from srlm.rewarding.pair_rules import choose_pair


def items(*specs: tuple[str, float, int]) -> list[dict]:
    return [{"id": i, "score": s, "len": n} for i, s, n in specs]


def pick(rows: list[dict], margin: float) -> tuple[str, str] | None:
    out = choose_pair(
        rows, score=lambda r: r["score"], length=lambda r: r["len"], margin=margin, key=lambda r: r["id"]
    )
    return None if out is None else (out[0]["id"], out[1]["id"])


def test_margin_zero_is_max_against_min_whatever_the_lengths():
    rows = items(("long_best", 5.0, 900), ("short_mid", 3.0, 10), ("short_worst", 1.0, 5))
    assert pick(rows, 0.0) == ("long_best", "short_worst")


def test_margin_picks_shortest_in_top_band_and_longest_in_bottom_band():
    # span 4, margin 0.25: top band >= 4 (best, near_best), bottom band <= 2 (worst, near_worst); "mid" in neither.
    rows = items(
        ("best", 5.0, 300),
        ("near_best", 4.0, 100),
        ("mid", 3.0, 1),
        ("near_worst", 2.0, 500),
        ("worst", 1.0, 50),
    )
    assert pick(rows, 0.25) == ("near_best", "near_worst")
    assert pick(rows, 0.0) == ("best", "worst")


def test_items_just_outside_a_band_are_not_picked():
    # span 4, margin 0.2: top band >= 4.2 holds only "best"; bottom band <= 1.8 holds only "worst".
    rows = items(("best", 5.0, 300), ("near_best", 4.0, 1), ("near_worst", 2.0, 999), ("worst", 1.0, 50))
    assert pick(rows, 0.2) == ("best", "worst")


def test_equal_scores_or_single_item_give_no_pair():
    assert pick(items(("a", 3.0, 1), ("b", 3.0, 2), ("c", 3.0, 3)), 0.0) is None
    assert pick(items(("a", 3.0, 1), ("b", 3.0, 2)), 0.25) is None
    assert pick(items(("a", 3.0, 1)), 0.0) is None
    assert pick([], 0.0) is None


def test_length_ties_go_to_smallest_key_whatever_the_input_order():
    rows = items(("top_b", 5.0, 10), ("top_a", 5.0, 10), ("low_d", 1.0, 20), ("low_c", 1.0, 20))
    assert pick(rows, 0.0) == ("top_a", "low_c")
    assert pick(list(reversed(rows)), 0.0) == ("top_a", "low_c")


def test_chosen_not_better_than_rejected_gives_no_pair():
    # margin 0.5: both bands reach the midpoint 3; the shortest top-band item and the longest bottom-band item
    # are two different items scoring exactly 3, so the chosen one is not better than the rejected one.
    rows = items(("top", 5.0, 100), ("mid_short", 3.0, 1), ("mid_long", 3.0, 999), ("low", 1.0, 100))
    assert pick(rows, 0.5) is None


@pytest.mark.parametrize("margin", [-0.1, 0.6])
def test_margin_outside_range_is_refused(margin):
    with pytest.raises(SrlmError, match="margin"):
        pick(items(("a", 1.0, 1), ("b", 2.0, 1)), margin)
