"""Which prompts a run has trained on, so that eval sets can be checked not to overlap them."""

from __future__ import annotations

from srlm.io import read_jsonl
from srlm.paths import RunPaths


def normalize(text: str) -> str:
    return " ".join(text.lower().split())


def training_prompts(run: RunPaths, upto: int) -> set[str]:
    """Normalized prompts of the IFT/EFT training data and of the loop's prompts up to iteration `upto`."""
    seen: set[str] = set()
    it0 = run.iteration(0)
    if it0.ift.exists():
        seen |= {normalize(r["messages"][0]["content"]) for r in read_jsonl(it0.ift)}
    if it0.eft_train.exists():
        seen |= {normalize(r["prompt"]) for r in read_jsonl(it0.eft_train)}  # the OASST prompts judged
    for t in range(1, upto + 1):
        if run.iteration(t).prompts.exists():
            seen |= {normalize(r["prompt"]) for r in read_jsonl(run.iteration(t).prompts)}
    return seen
