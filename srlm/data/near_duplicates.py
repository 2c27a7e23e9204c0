"""Near-duplicate prompts by ROUGE-L F-measure, the way Self-Instruct filters the instructions it generates.

Self-Instruct (Wang et al. 2023) drops a generated instruction when its ROUGE-L F-measure against any
instruction already in the pool (the seeds, then every one kept) is above 0.7, scored by
`rouge_score.rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)` one pair at a time in pure Python.
`NearDuplicateIndex` makes the same decisions in a fraction of the time: it tokenizes as rouge-score's
default tokenizer does, writes each prompt as a string of one character per distinct token, and has
rapidfuzz compare a new prompt with every indexed one in one call (the Indel similarity of two such
strings, 2 * LCS / (m + n), is the ROUGE-L F-measure of the prompts).

    index = NearDuplicateIndex(0.7, seed_prompts)
    for text in generated:
        if not index.is_near_duplicate(text):
            index.add(text)
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from rapidfuzz import process
from rapidfuzz.distance import Indel, LCSseq

SELF_INSTRUCT_THRESHOLD = 0.7
_NON_ALPHANUM = re.compile(r"[^a-z0-9]+")
_UNSEEN = "\0"  # stands for every token no indexed prompt has; never one of the indexed strings' characters
_SURROGATES = 0x800  # code points U+D800..U+DFFF are skipped
_MAX_TOKENS = 0x10FFFF - _SURROGATES  # distinct tokens an index can hold (code points 1.. without surrogates)
_SLACK = 1e-9  # candidates are gathered this far below the threshold, then decided by rouge-score's formula


def tokenize(text: str) -> list[str]:
    """rouge-score's default tokens (no stemmer): lower-cased, every run of characters but a-z0-9 a separator."""
    return _NON_ALPHANUM.sub(" ", text.lower()).split()


def _fmeasure(lcs: int, m: int, n: int) -> float:
    """ROUGE-L F-measure from the LCS length of m and n tokens, in rouge-score's floating-point steps.

    Computed as rouge_score.scoring.fmeasure does, so that a pair exactly at the threshold is decided as there.
    """
    if not lcs:
        return 0.0
    precision, recall = lcs / n, lcs / m
    return 2 * precision * recall / (precision + recall)


class NearDuplicateIndex:
    """Prompts kept so far; `is_near_duplicate(text)`: is text's ROUGE-L F-measure with one of them > threshold.

    Args:
        threshold: the F-measure above which a prompt is a near duplicate (Self-Instruct: 0.7).
        texts: prompts to index at once (e.g. the seed prompts), as `add` would.
    """

    def __init__(self, threshold: float = SELF_INSTRUCT_THRESHOLD, texts: Iterable[str] = ()):
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must be in [0, 1], got {threshold}")
        self.threshold = threshold
        self._codes: dict[str, str] = {}  # token -> its character
        self._encoded: list[str] = []  # the indexed prompts that have a token, one character per token
        self._size = 0
        for text in texts:
            self.add(text)

    def __len__(self) -> int:
        """Prompts added (those without a token included)."""
        return self._size

    def _code(self, token: str) -> str:
        code = self._codes.get(token)
        if code is None:
            k = len(self._codes) + 1
            if k > _MAX_TOKENS:
                raise ValueError(f"a NearDuplicateIndex holds at most {_MAX_TOKENS} distinct tokens")
            code = self._codes[token] = chr(k if k < 0xD800 else k + _SURROGATES)
        return code

    def _query(self, text: str) -> str:
        return "".join(self._codes.get(t, _UNSEEN) for t in tokenize(text))

    def add(self, text: str) -> None:
        """Index `text`: later prompts are compared with it."""
        self._size += 1
        encoded = "".join(self._code(t) for t in tokenize(text))
        if encoded:  # a prompt without a token has F-measure 0 with every prompt
            self._encoded.append(encoded)

    def similarities(self, text: str, at_least: float = 0.0) -> list[tuple[int, float]]:
        """(position among the indexed prompts that have a token, ROUGE-L F-measure) of those scoring >= at_least.

        Positions count `add` calls in order, skipping prompts without a token. F-measures are rouge-score's.
        """
        query = self._query(text)
        if not query or not self._encoded:
            return []
        cutoff = max(0.0, at_least - _SLACK)
        hits = process.extract(
            query, self._encoded, scorer=Indel.normalized_similarity, processor=None, score_cutoff=cutoff, limit=None
        )
        scored = []
        for choice, _, position in hits:
            f = _fmeasure(LCSseq.similarity(query, choice), len(choice), len(query))
            if f >= at_least:
                scored.append((position, f))
        return sorted(scored)

    def is_near_duplicate(self, text: str) -> bool:
        """Whether text's ROUGE-L F-measure with some indexed prompt is above the threshold (as Self-Instruct)."""
        return any(f > self.threshold for _, f in self.similarities(text, self.threshold))


def rouge_l(a: str, b: str) -> float:
    """ROUGE-L F-measure of two texts, as `RougeScorer(["rougeL"]).score(a, b)["rougeL"].fmeasure` gives it."""
    scores = NearDuplicateIndex(0.0, [a]).similarities(b)
    return scores[0][1] if scores else 0.0
