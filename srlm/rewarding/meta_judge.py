"""Meta-judging (Meta-Rewarding, Wu et al. 2024): the model compares its own judgments of a response.

Every pair of scored judgments of a response is compared in both orders (position bias cancels); the battles
give each judgment a Bradley-Terry rating; the best- and worst-rated judgments form a judge pair for DPO whose
prompt is the judge prompt of that response.
"""

from __future__ import annotations

import math
import random
import re
from collections import defaultdict
from collections.abc import Callable
from itertools import combinations

from srlm.core.errors import SrlmError
from srlm.core.intervals import wilson_interval
from srlm.core.resources import template
from srlm.rewarding.pair_rules import choose_pair

TEMPLATE = template("meta_judge.txt")
PLACEHOLDERS = ("{prompt}", "{response}", "{rubric}", "{judgment_a}", "{judgment_b}")
CUE = "Better judgment:"

ELO_BASE = 1000.0
ELO_SCALE = 400.0 / math.log(10)

_CUE_RE = re.compile(r"better\s+judge?ment\s*:", re.IGNORECASE)
_ANSWER_RE = re.compile(r"\s*(?:judge?ment\s+)?[(\[]?\s*([AB])\s*[)\]]?(?=$|[\s.,;:!/&])(.*)", re.IGNORECASE)
_SECOND_RE = re.compile(r"\s*(?:or|and|/|&|,)\s*(?:judge?ment\s+)?[(\[]?\s*[AB]\b", re.IGNORECASE)


# ------------------------------------------------------------------------------------------------ verdicts


def parse_meta_verdict(text: str) -> str | None:
    """ "A" or "B" from the last `Better judgment:` line; None when absent or ambiguous ("A or B")."""
    cues = list(_CUE_RE.finditer(text or ""))
    if not cues:
        return None
    rest = text[cues[-1].end() :].split("\n", 1)[0].replace("*", "").replace("`", "")
    m = _ANSWER_RE.match(rest)
    if m is None or _SECOND_RE.match(m.group(2)):
        return None
    letter, after = m.group(1), m.group(2).lstrip()
    if letter.islower() and after[:1].isalpha():  # "a tie", "a draw": an article, not an answer
        return None
    return letter.upper()


def judgment_id(candidate_id: str, sample: int) -> str:
    """The id of one judgment: its candidate and sample number."""
    return f"{candidate_id}/j{sample}"


# --------------------------------------------------------------------------------------------- comparisons


def _scored_by_candidate(judgments: list[dict]) -> dict[str, list[dict]]:
    """Judgments with a score, grouped by candidate (candidates sorted, judgments by sample)."""
    groups: dict[str, list[dict]] = defaultdict(list)
    for j in judgments:
        if j["score"] is not None:
            groups[j["candidate_id"]].append(j)
    return {c: sorted(groups[c], key=lambda j: j["sample"]) for c in sorted(groups)}


def comparisons(judgments: list[dict]) -> list[dict]:
    """Every pair of a candidate's scored judgments in both orders, for candidates whose scores differ.

    A candidate with fewer than 2 scored judgments, or whose judgments all give the same score, is left out.
    """
    rows = []
    for candidate_id, group in _scored_by_candidate(judgments).items():
        if len({j["score"] for j in group}) < 2:
            continue
        ids = [_jid(j) for j in group]
        if len(set(ids)) != len(ids):
            raise SrlmError(f"candidate {candidate_id!r} has two judgments with the same sample number")
        for x, y in combinations(ids, 2):
            for a, b in ((x, y), (y, x)):
                rows.append({"id": f"{candidate_id}|{a}|{b}", "candidate_id": candidate_id, "a": a, "b": b})
    return rows


# ------------------------------------------------------------------------------------------------- ratings


def bradley_terry(ids: list[str], battles: list[tuple[str, str]]) -> dict[str, float]:
    """Elo-scale Bradley-Terry ratings from (winner, loser) battles, fitted as Chatbot Arena does.

    Logistic regression without intercept (scikit-learn, L2 at default C) on rows e_winner - e_loser (y=1) and
    their mirror (y=0); rating = 1000 + 400 / ln(10) * coefficient, rounded to 6 decimals so that judgments with
    symmetric results tie exactly. Ids without battles get 1000.
    """
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    index = {i: n for n, i in enumerate(ids)}
    unknown = sorted({i for battle in battles for i in battle if i not in index})
    if unknown:
        raise SrlmError(f"battles name ids that are not rated: {', '.join(unknown)}")
    if any(w == lo for w, lo in battles):
        raise SrlmError("a battle needs two different ids")
    ratings = dict.fromkeys(ids, ELO_BASE)
    if not battles:
        return ratings
    x = np.zeros((2 * len(battles), len(ids)))
    for row, (winner, loser) in enumerate(battles):
        x[2 * row, [index[winner], index[loser]]] = (1.0, -1.0)
        x[2 * row + 1] = -x[2 * row]
    y = np.tile([1, 0], len(battles))
    coef = LogisticRegression(fit_intercept=False).fit(x, y).coef_[0]
    played = {i for battle in battles for i in battle}
    return {i: round(ELO_BASE + ELO_SCALE * float(coef[index[i]]), 6) if i in played else ELO_BASE for i in ids}


def _battle(row: dict) -> tuple[str, str] | None:
    """(winner id, loser id) of a comparison row; None when its verdict was not parsed."""
    winner = row["winner"]
    if winner is None:
        return None
    if winner not in ("A", "B"):
        raise SrlmError(f"comparison {row['id']!r}: winner must be 'A', 'B' or null, got {winner!r}")
    return (row["a"], row["b"]) if winner == "A" else (row["b"], row["a"])


def combine_orders(comparison_rows: list[dict]) -> list[dict]:
    """Rows whose winner is decided over both orders, from `p_a` (the probability of "A" in each row): judgment
    x beats y when (p_a(x first) + 1 - p_a(y first)) / 2 > 0.5, so a constant position bias cancels out. Both
    rows of a pair then name the same winner; a pair missing an order or its p_a, or exactly at 0.5, gives no
    battle."""
    by_order = {(r["a"], r["b"]): r for r in comparison_rows}
    combined = []
    for r in comparison_rows:
        mirror = by_order.get((r["b"], r["a"]))
        known = mirror is not None and r["p_a"] is not None and mirror["p_a"] is not None
        first = (r["p_a"] + 1 - mirror["p_a"]) / 2 if known else None
        winner = None if first is None or first == 0.5 else "A" if first > 0.5 else "B"
        combined.append({**r, "winner": winner})
    return combined


def ratings(comparison_rows: list[dict]) -> dict[str, dict[str, float]]:
    """Per candidate, the Bradley-Terry rating of every judgment in its comparisons (unparsed ones skipped)."""
    ids: dict[str, dict[str, None]] = defaultdict(dict)
    battles: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for row in comparison_rows:
        ids[row["candidate_id"]].update(dict.fromkeys((row["a"], row["b"])))
        battle = _battle(row)
        if battle is not None:
            battles[row["candidate_id"]].append(battle)
    return {c: bradley_terry(list(ids[c]), battles[c]) for c in ids}


# --------------------------------------------------------------------------------------------- judge pairs


def _jid(judgment: dict) -> str:
    return judgment_id(judgment["candidate_id"], judgment["sample"])


def _judge_pair(candidate: dict, chosen: dict, rejected: dict, rating: dict[str, float], prompt: str) -> dict:
    c_id, r_id = _jid(chosen), _jid(rejected)
    return {
        "kind": "judge",
        "prompt_id": candidate["prompt_id"],
        "candidate_id": chosen["candidate_id"],
        "prompt": prompt,
        "chosen": chosen["text"],
        "rejected": rejected["text"],
        "chosen_id": c_id,
        "rejected_id": r_id,
        "chosen_score": chosen["score"],
        "rejected_score": rejected["score"],
        "chosen_rating": rating[c_id],
        "rejected_rating": rating[r_id],
    }


def _pick(judgments: list[dict], rating: dict[str, float], margin: float) -> tuple[dict, dict] | None:
    """(chosen, rejected) judgment by rating, shorter text preferred within the margin bands."""
    return choose_pair(
        judgments, score=lambda j: rating[_jid(j)], length=lambda j: len(j["text"]), margin=margin, key=_jid
    )


def judge_pairs(
    judgments: list[dict],
    comparison_rows: list[dict],
    candidates: dict[str, dict],
    judge_prompt: Callable[[dict], str],
    margin: float,
) -> list[dict]:
    """Per rated candidate, its best- against its worst-rated judgment (`pair_rules.choose_pair` on ratings).

    `candidates` maps candidate_id to its row (`prompt_id`, `prompt`, `text`); the pair's prompt is
    `judge_prompt(candidate)`. A candidate whose ratings all tie gives no pair.
    """
    index = {_jid(j): j for j in judgments}
    pairs = []
    for candidate_id, rating in ratings(comparison_rows).items():
        missing = [i for i in rating if i not in index]
        if missing or candidate_id not in candidates:
            raise SrlmError(f"comparisons of {candidate_id!r} name an unknown candidate or judgment {missing}")
        picked = _pick([index[i] for i in rating], rating, margin)
        if picked is not None:
            candidate = candidates[candidate_id]
            pairs.append(_judge_pair(candidate, *picked, rating, judge_prompt(candidate)))
    return pairs


def _higher_share(pairs: list[dict]) -> float | None:
    """Share of pairs whose chosen judgment gives the higher score, among pairs with unequal scores."""
    unequal = [p for p in pairs if p["chosen_score"] != p["rejected_score"]]
    if not unequal:
        return None
    return sum(p["chosen_score"] > p["rejected_score"] for p in unequal) / len(unequal)


def balance_scores(pairs: list[dict], seed: int) -> tuple[list[dict], dict]:
    """As many pairs whose chosen judgment scores higher than the rejected as pairs where it scores lower.

    A guard against score inflation: the larger group's surplus is dropped at random (`random.Random(seed)`);
    pairs with equal scores are all kept; the order of the kept pairs is unchanged.
    """
    higher = [n for n, p in enumerate(pairs) if p["chosen_score"] > p["rejected_score"]]
    lower = [n for n, p in enumerate(pairs) if p["chosen_score"] < p["rejected_score"]]
    small, large = sorted((higher, lower), key=len)
    dropped = set(large) - set(random.Random(seed).sample(large, len(small)))
    kept = [p for n, p in enumerate(pairs) if n not in dropped]
    return kept, {
        "judge_pairs_before_balance": len(pairs),
        "chosen_higher_share_before": _higher_share(pairs),
        "chosen_higher_share_after": _higher_share(kept),
        "dropped_for_balance": len(dropped),
    }


def _allowed(actor_pairs: int, max_share: float, available: int) -> int:
    """The largest n <= available with n / (actor_pairs + n) <= max_share."""
    if max_share >= 1.0:
        return available
    n = min(available, math.floor(max_share * actor_pairs / (1.0 - max_share)) + 1)
    while n > 0 and n / (actor_pairs + n) > max_share:
        n -= 1
    return n


def cap_share(judge_pairs: list[dict], actor_pairs: int, max_share: float, seed: int) -> tuple[list[dict], dict]:
    """At most the largest n judge pairs with n / (actor_pairs + n) <= max_share (seeded subset, order kept)."""
    if not 0.0 <= max_share <= 1.0:
        raise SrlmError(f"judge pair share must be in [0, 1], got {max_share}")
    n = _allowed(actor_pairs, max_share, len(judge_pairs))
    keep = set(random.Random(seed).sample(range(len(judge_pairs)), n))
    kept = [p for i, p in enumerate(judge_pairs) if i in keep]
    total = actor_pairs + n
    return kept, {"judge_pairs_capped": len(judge_pairs) - n, "judge_share": n / total if total else None}


# ------------------------------------------------------------------------------------------- position bias


def _order_agreement(rows: list[dict]) -> tuple[float | None, int]:
    """(share of judgment pairs, both orders parsed, where one judgment won both; number of such pairs)."""
    winners: dict[tuple, list[str]] = defaultdict(list)
    for row in rows:
        battle = _battle(row)
        if battle is not None:
            winners[(row["candidate_id"], frozenset((row["a"], row["b"])))].append(battle[0])
    both = [w for w in winners.values() if len(w) == 2]
    return (sum(w[0] == w[1] for w in both) / len(both) if both else None), len(both)


def position_stats(comparison_rows: list[dict]) -> dict:
    """Parse rate, position bias (share won by the judgment shown first, 95% Wilson interval), order agreement.

    `position_a_rate` is over parsed verdicts (0.5 is unbiased); `order_agreement` is over judgment pairs with
    both orders parsed: a meta-judge that always answers "A" has position_a_rate 1 and order_agreement 0.
    """
    parsed = [r["winner"] for r in comparison_rows if _battle(r) is not None]
    wins_a = sum(w == "A" for w in parsed)
    interval = wilson_interval(wins_a, len(parsed))
    agreement, order_pairs = _order_agreement(comparison_rows)
    return {
        "comparisons": len(comparison_rows),
        "unparsed": len(comparison_rows) - len(parsed),
        "parse_rate": len(parsed) / len(comparison_rows) if comparison_rows else None,
        "position_a_rate": wins_a / len(parsed) if parsed else None,
        "position_a_rate_interval": interval,
        "order_agreement": agreement,
        "order_pairs": order_pairs,
    }
