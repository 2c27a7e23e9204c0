"""Length-controlled choice of a (chosen, rejected) pair, as in Meta-Rewarding (Wu et al. 2024).

Used for actor pairs (score = mean judge score, length = characters of the response) and for judge pairs
(score = the judgment's rating, length = characters of the judgment).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from srlm.core.errors import SrlmError

T = TypeVar("T")


def choose_pair(
    items: list[T],
    score: Callable[[T], float],
    length: Callable[[T], int],
    margin: float,
    key: Callable[[T], str],
) -> tuple[T, T] | None:
    """(chosen, rejected): the shortest item in the top band against the longest item in the bottom band.

    With span = max score - min score, the top band holds the items scoring >= max - margin * span and the
    bottom band those scoring <= min + margin * span (margin 0: the max- against the min-scored items). Ties in
    length go to the smallest `key`. None when all scores are equal (or fewer than 2 items), or when the chosen
    item does not score strictly above the rejected one (possible only at margin 0.5, where the bands meet).
    """
    if not 0.0 <= margin <= 0.5:
        raise SrlmError(f"pair margin must be in [0, 0.5], got {margin}")
    if len(items) < 2:
        return None
    scores = [score(it) for it in items]
    top, low = max(scores), min(scores)
    span = top - low
    if span == 0:
        return None
    top_band = [it for it, s in zip(items, scores) if s >= top - margin * span]
    chosen = min(top_band, key=lambda it: (length(it), key(it)))
    bottom_band = [it for it, s in zip(items, scores) if s <= low + margin * span and it is not chosen]
    rejected = min(bottom_band, key=lambda it: (-length(it), key(it)))
    if score(chosen) <= score(rejected):
        return None
    return chosen, rejected
