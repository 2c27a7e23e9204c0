import pytest
import torch
from omegaconf import OmegaConf

from srlm.config import JudgeConfig
from srlm.engine.hf import HfEngine
from srlm.errors import SrlmError
from srlm.judge import judge_expected, load_template, mean_scores, parse_score, parse_verdict
from srlm.tiny_model import tiny_checkpoint

UGLY = {
    "The answer is fine.\nScore: 4": 4,
    "no score at all": None,
    "Score: 3\nOn reflection... Score: 5": None,  # two different scores: ambiguous
    "Score: 3 and again Score: 3": 3,
    "Score: 7": None,  # out of range
    "Score: 4.5": None,  # not an integer
    "Score: 4.0": 4,
    "Score: 2. The response misses the point entirely.": 2,
    "**Score:** 5": 5,
    "Score: 4/5": 4,
    "Score: 8/10": None,
    "score = 1": 1,
    "Score: -1": None,
    "": None,
    "Score:": None,
    "I'd give it a 4 out of 5.": None,
}


@pytest.mark.parametrize("verdict,expected", list(UGLY.items()))
def test_parse_score_on_ugly_verdicts(verdict, expected):
    assert parse_score(verdict) == expected


def test_parse_failures_are_counted_not_fatal():
    scores = [parse_score(v) for v in UGLY]
    assert sum(s is None for s in scores) == sum(v is None for v in UGLY.values())


def test_parse_verdict():
    assert parse_verdict("B is better.\nVerdict: B") == "B"
    assert parse_verdict("Verdict: A ... Verdict: B") is None
    assert parse_verdict("no idea") is None


def test_template_needs_placeholders(tmp_path):
    t = tmp_path / "t.txt"
    t.write_text("Rate this: {response}")
    with pytest.raises(SrlmError, match=r"t\.txt.*\{prompt\}"):
        load_template(str(t))
    with pytest.raises(SrlmError, match="not found"):
        load_template(str(tmp_path / "missing.txt"))


def test_mean_scores_ignores_unparsed_and_keeps_all_missing_as_none():
    rows = [
        {"id": "a", "mode": "sampled", "score": 4},
        {"id": "a", "mode": "sampled", "score": None},
        {"id": "a", "mode": "sampled", "score": 2},
        {"id": "b", "mode": "sampled", "score": None},
    ]
    assert mean_scores(rows, "sampled") == {"a": 3.0, "b": None}


def test_expected_score_on_tiny_model_is_in_range():
    path = str(tiny_checkpoint())
    cfg = OmegaConf.structured(JudgeConfig)
    items = [{"id": str(i), "prompt": "Say hi", "response": r} for i, r in enumerate(["hi", "hello there", "no"])]
    rows = judge_expected(HfEngine(path), load_template(cfg.template), items, cfg)
    assert [r["id"] for r in rows] == ["0", "1", "2"]
    assert all(0.0 <= r["score"] <= 5.0 for r in rows)


def test_shared_prefix_scoring_equals_one_pass_per_text(monkeypatch):
    from srlm.engine import hf

    engine = hf.HfEngine(str(tiny_checkpoint()))
    rubric = "Grade the response on the additive 5-point scale. " * 4
    texts = [rubric + "Q: boil an egg? A: 9 minutes. Score: ", rubric + "Q: a prime? A: 7. Score: ", rubric + "Hi"]
    ids = engine.tokenizer("012345", add_special_tokens=False).input_ids
    assert hf.common_prefix_length(engine.encode(texts)) >= hf.MIN_SHARED_PREFIX
    shared = engine.next_token_probs(texts, ids)
    monkeypatch.setattr(hf, "MIN_SHARED_PREFIX", 10**9)
    plain = engine.next_token_probs(texts, ids)
    assert shared.shape == (3, len(ids))
    assert torch.allclose(shared, plain, atol=1e-6)
