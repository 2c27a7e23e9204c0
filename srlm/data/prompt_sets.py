"""Which prompts a run has trained on, so that eval sets can be checked not to overlap them."""

from __future__ import annotations

from srlm.core.io import read_jsonl
from srlm.core.paths import RunPaths


def normalize(text: str) -> str:
    return " ".join(text.lower().split())


def too_long(prompt: str, tokenizer, limit: int) -> bool:
    """Whether `prompt` is over `limit` tokens (no tokenizer needed when it has fewer bytes than that)."""
    if len(prompt.encode("utf-8")) < limit:  # a token covers at least one byte
        return False
    return len(tokenizer(prompt, add_special_tokens=False)["input_ids"]) > limit


def report_too_long(name: str, n: int, limit: int) -> None:
    if n:
        print(f"[srlm] {name}: {n} prompt(s) longer than data.max_prompt_tokens={limit} tokens left out", flush=True)


def report_shortfall(name: str, got: int, asked: int) -> int:
    """How many fewer than `asked` there are (0 when none), said in one line when some are missing."""
    short = max(asked - got, 0)
    if short:
        print(f"[srlm] {name}: {got} of the {asked} asked ({short} short)", flush=True)
    return short


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
