"""Pairwise judging by token probability: the meta-judge's `meta.mode=probability` (P(A) vs P(B) after
`Better judgment:`) and the evaluator's expected-score A/B verdict (after `Verdict:`).

A scripted engine stands in for the model where the decision rule is checked (it answers each prompt with the
probabilities the test gives its `A` and `B` tokens, and a share of mass on other tokens); the tiny random model
checks that the probability read is the model's own.
"""

from __future__ import annotations

import math

import pytest
import torch
from omegaconf import OmegaConf

from srlm.config.compose import compose
from srlm.config.schema import MetaConfig
from srlm.models.tiny import tiny_checkpoint
from srlm.stages.meta_judge import label_tokens, meta_verdicts


@pytest.fixture(scope="module")
def tokenizer():
    from srlm.models.loading import load_tokenizer

    return load_tokenizer(str(tiny_checkpoint()))


class ScriptedEngine:
    """The model's next-token probabilities, scripted per prompt: {prompt text: {label: probability}}."""

    def __init__(self, tokenizer, probs: dict[str, dict[str, float]]):
        self.tokenizer, self.probs, self.asked = tokenizer, probs, []

    def chat(self, user_text: str) -> str:
        return f"<user>{user_text}</user>"

    def next_token_probs(self, texts, token_ids):
        self.asked.append((texts, token_ids))
        rows = []
        for text in texts:
            prompt = text[len("<user>") : text.index("</user>")]
            labels = [self.tokenizer.decode([i]).strip() for i in token_ids]
            rows.append([self.probs[prompt].get(label, 0.0) for label in labels])
        return torch.tensor(rows)

    def sample(self, *args, **kwargs):
        raise AssertionError("probability mode writes nothing")


def item(i: str) -> dict:
    return {"id": f"c|{i}x|{i}y", "candidate_id": "c", "prompt_id": "p", "a": f"{i}x", "b": f"{i}y", "meta_prompt": i}


def test_meta_probability_verdict_is_the_share_of_a_in_the_mass_of_a_and_b(tokenizer):
    mc = OmegaConf.structured(MetaConfig)
    mc.mode = "probability"
    probs = {
        "a-likelier": {"A": 0.30, "B": 0.10},  # 0.4 of the mass elsewhere: p(A) = 0.3 / 0.4
        "b-likelier": {"A": 0.02, "B": 0.06},
        "even": {"A": 0.2, "B": 0.2},
        "neither": {"A": 0.0, "B": 0.0},  # all the mass on other tokens: no verdict, not a win for B
    }
    engine = ScriptedEngine(tokenizer, probs)
    rows = meta_verdicts(engine, [item(k) for k in probs], mc, seeds=[0, 1, 2, 3])
    assert [r["winner"] for r in rows] == ["A", "B", None, None]
    assert [r["p_a"] for r in rows[:3]] == pytest.approx([0.75, 0.25, 0.5]) and rows[3]["p_a"] is None
    assert [(r["id"], r["a"], r["b"]) for r in rows] == [(f"c|{k}x|{k}y", f"{k}x", f"{k}y") for k in probs]
    [(texts, token_ids)] = engine.asked
    cue, ids = label_tokens(tokenizer)
    assert [tokenizer.decode([i]).strip() for i in token_ids] == ["A", "B"] and tuple(token_ids) == ids
    assert all(t.endswith("</user>" + cue) for t in texts)  # read right after the cue, after the chat turn


def test_meta_probability_reads_the_models_own_odds_of_a_and_b(tokenizer):
    from srlm.inference.engines.hf import HfEngine

    mc = OmegaConf.structured(MetaConfig)
    mc.mode = "probability"
    engine = HfEngine(str(tiny_checkpoint()), "float32")
    items = [item("first"), {**item("second"), "meta_prompt": "Which judgment is better, A or B?"}]
    rows = meta_verdicts(engine, items, mc, seeds=[0, 0])
    cue, _ = label_tokens(engine.tokenizer)
    for it, row in zip(items, rows, strict=True):
        head = engine.encode([engine.chat(it["meta_prompt"]) + cue])[0]
        labels = [head + engine.encode([label])[0] for label in "AB"]
        (log_a, _), (log_b, _) = engine.sequence_logprobs(labels, [len(head)] * 2)
        assert row["p_a"] == pytest.approx(1 / (1 + math.exp(log_b - log_a)), abs=1e-5)
        assert row["winner"] == ("A" if row["p_a"] > 0.5 else "B")


def test_evaluator_expected_score_verdict_follows_the_likelier_label_and_ties_are_none(tokenizer):
    from srlm.evaluation.evaluators import Evaluator
    from srlm.rewarding.templates import fill

    cases = {"a": {"A": 0.6, "B": 0.1}, "b": {"A": 0.1, "B": 0.3}, "tie": {"A": 0.25, "B": 0.25}}
    items = [{"id": k, "prompt": f"prompt {k}", "response_a": "x", "response_b": "y"} for k in cases]
    engine = ScriptedEngine(tokenizer, {})
    evaluator = Evaluator(engine, compose(["recipe=smoke"]), "expected_score")
    for it in items:  # the scripted model answers each filled verdict-only template with its case's odds
        asked = fill(evaluator.pair_template, **{k: it[k] for k in ("prompt", "response_a", "response_b")})
        engine.probs[asked] = cases[it["id"]]
    rows = evaluator.pairwise(items)
    assert [r["verdict"] for r in rows] == ["A", "B", None]
    assert [r["p_a"] for r in rows] == pytest.approx([0.6, 0.1, 0.25])
    assert [r["p_b"] for r in rows] == pytest.approx([0.1, 0.3, 0.25])
    [(_, token_ids)] = engine.asked
    assert [tokenizer.decode([i]).strip() for i in token_ids] == ["A", "B"]
