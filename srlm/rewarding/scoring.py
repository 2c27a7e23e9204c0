"""LLM-as-a-judge through an engine: sampled verdicts, expected scores, pairwise verdicts, averaging.

The same code serves the loop's judge stage, the EFT builder and evaluation."""

from __future__ import annotations

from functools import lru_cache

import torch

from srlm.core.errors import SrlmError
from srlm.rewarding.templates import fill
from srlm.rewarding.verdicts import MAX_SCORE, SCORE_CUE, parse_score, parse_verdict


def judge_prompts(engine, template: str, items: list[dict]) -> list[str]:
    return [engine.chat(fill(template, prompt=it["prompt"], response=it["response"])) for it in items]


def judge_sampled(engine, template: str, items: list[dict], num_samples: int, cfg, seeds: list[int]) -> list[dict]:
    """Sample `num_samples` verdicts per item (sharing the prompt's prefill); rows keep the raw text."""
    outs = engine.sample(
        judge_prompts(engine, template, items),
        n=num_samples,
        max_new_tokens=cfg.max_new_tokens,
        temperature=cfg.temperature,
        top_p=cfg.top_p,
        seeds=seeds,
    )
    rows = []
    for item, verdicts in zip(items, outs):
        for s, v in enumerate(verdicts):
            rows.append(
                {"id": item["id"], "mode": "sampled", "sample": s, "score": parse_score(v["text"]), "raw": v["text"]}
            )
    return rows


def cue_tokens(tokenizer, cue: str, labels: list[str]) -> tuple[str, tuple[int, ...]] | None:
    """The cue (as given, or without its trailing space) and one token id per label right after it; None when
    some label is not one token there in either form."""
    for form, label_fmt in ((cue, "{}"), (cue.rstrip(), " {}")):
        base = tokenizer(form, add_special_tokens=False).input_ids
        ids = []
        for label in labels:
            full = tokenizer(form + label_fmt.format(label), add_special_tokens=False).input_ids
            if full[: len(base)] != base or len(full) != len(base) + 1:
                break
            ids.append(full[-1])
        if len(set(ids)) == len(labels):
            return form, tuple(ids)
    return None


@lru_cache(maxsize=8)
def _score_tokens(tokenizer) -> tuple[str, tuple[int, ...]]:
    """The cue and the token ids of the digits 0-5 right after it, for this tokenizer."""
    found = cue_tokens(tokenizer, SCORE_CUE, [str(d) for d in range(MAX_SCORE + 1)])
    if found is None:
        raise SrlmError("expected_score judging needs a tokenizer with one token per score digit 0-5 after `Score:`")
    return found


def judge_expected(
    engine, template: str, items: list[dict], cfg, num_samples: int = 1, seeds: list[int] | None = None
) -> list[dict]:
    """Expected score from the probabilities of the digits 0-5 after the `Score:` cue.

    With `cfg.expected_after_justification`, a justification is written first and the score read after it
    (greedy for one sample; `num_samples` sampled justifications at the judge's temperature otherwise, each a
    judgment of its own); `raw` then holds the justification with the rounded score, as the judge would write
    it. Otherwise the score is read right after the cue. Always yields a score (no ties in practice).
    """
    cue, ids = _score_tokens(engine.tokenizer)
    prompts = judge_prompts(engine, template, items)
    justifications = [[""] for _ in prompts]
    if cfg.expected_after_justification:
        greedy = num_samples == 1
        outs = engine.sample(
            prompts,
            num_samples,
            cfg.max_new_tokens,
            0.0 if greedy else cfg.temperature,
            1.0 if greedy else cfg.top_p,
            seeds=[0] * len(prompts) if greedy or seeds is None else seeds,
            stop=["Score:"],
        )
        justifications = [[o["text"].split("Score:")[0].rstrip() + "\n" for o in out] for out in outs]
    flat = [(it, s, j, p + j) for it, p, js in zip(items, prompts, justifications) for s, j in enumerate(js)]
    probs = engine.next_token_probs([text + cue for *_, text in flat], list(ids))
    mass = probs.sum(dim=1, keepdim=True).clamp_min(1e-12)
    expected = (probs / mass * torch.arange(len(ids), dtype=torch.float32)).sum(dim=1).tolist()
    rows = []
    for (it, s, written, _), e, m in zip(flat, expected, mass.squeeze(1).tolist()):
        raw = f"{written}{SCORE_CUE}{round(e)}" if written else f"digit mass {m:.3f}"
        rows.append({"id": it["id"], "mode": "expected_score", "sample": s, "score": round(e, 4), "raw": raw})
    return rows


def judge_pairwise(engine, template: str, items: list[dict], cfg) -> list[dict]:
    """Greedy A/B verdicts for items with `prompt`, `response_a`, `response_b`."""
    prompts = [
        engine.chat(fill(template, prompt=it["prompt"], response_a=it["response_a"], response_b=it["response_b"]))
        for it in items
    ]
    outs = engine.sample(prompts, 1, cfg.max_new_tokens, 0.0, 1.0, seeds=[0] * len(prompts))
    return [
        {"id": it["id"], "verdict": parse_verdict(o[0]["text"]), "raw": o[0]["text"]} for it, o in zip(items, outs)
    ]


def mean_scores(rows: list[dict], mode: str) -> dict[str, float | None]:
    """Mean parsed score per item id for one mode; None where no sample parsed."""
    acc: dict[str, list[float]] = {}
    for r in rows:
        if r["mode"] == mode:
            acc.setdefault(r["id"], [])
            if r["score"] is not None:
                acc[r["id"]].append(r["score"])
    return {k: (sum(v) / len(v) if v else None) for k, v in acc.items()}
