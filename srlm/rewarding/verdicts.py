"""Strict parsers for a judge's verdict: the additive rubric's score and a pairwise winner."""

from __future__ import annotations

import re

MAX_SCORE = 5


SCORE_RE = re.compile(r"score\s*[:=]\s*\**\s*(-?\d+(?:\.\d+)?)(\s*/\s*\d+)?", re.IGNORECASE)


VERDICT_RE = re.compile(r"verdict\s*[:=]\s*\**\s*\[?\s*([AB])\b", re.IGNORECASE)


SCORE_CUE = "Score: "


def parse_score(verdict: str) -> int | None:
    """The integer 0-5 of a verdict's `Score: N`, or None when there is none or it is ambiguous.

    Rules: all `Score:` cues in the text are read; none, a non-integer (`4.5`), a value outside 0-5
    (`7`) or two different values make the verdict unparsed. `Score: 4/5`, `**Score:** 4` and text
    after the score are accepted.
    """
    values = set()
    for m in SCORE_RE.finditer(verdict.replace("**", "")):
        number, out_of = m.group(1), m.group(2)
        if "." in number and float(number) != int(float(number)):
            return None
        value = int(float(number))
        if out_of is not None and int(out_of.strip().lstrip("/").strip()) != MAX_SCORE:
            return None
        values.add(value)
    if len(values) != 1:
        return None
    value = values.pop()
    return value if 0 <= value <= MAX_SCORE else None


def parse_verdict(text: str) -> str | None:
    """`A` or `B` from a pairwise verdict, or None when missing or ambiguous."""
    found = {m.group(1).upper() for m in VERDICT_RE.finditer(text.replace("**", ""))}
    return found.pop() if len(found) == 1 else None
