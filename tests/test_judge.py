import pytest
import torch
from omegaconf import OmegaConf

from srlm.config.schema import JudgeConfig
from srlm.core.errors import SrlmError
from srlm.models.loading import load_tokenizer
from srlm.models.tiny import tiny_checkpoint
from srlm.rewarding.scoring import judge_expected, mean_scores
from srlm.rewarding.templates import fill, load_template
from srlm.rewarding.verdicts import parse_score, parse_verdict

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


def test_fill_pastes_values_as_they_are_even_when_they_look_like_placeholders():
    question = "Explain `f'{response}'` and `{prompt}` in Python: what does {response_a} print?"
    answer = "It prints {prompt} literally; in code `{x}` is a set."
    template = "Question:\n{prompt}\nAnswer:\n{response}\nEnd."
    filled = fill(template, prompt=question, response=answer)
    assert filled == f"Question:\n{question}\nAnswer:\n{answer}\nEnd."


def test_mean_scores_ignores_unparsed_and_keeps_all_missing_as_none():
    rows = [
        {"id": "a", "mode": "sampled", "score": 4},
        {"id": "a", "mode": "sampled", "score": None},
        {"id": "a", "mode": "sampled", "score": 2},
        {"id": "b", "mode": "sampled", "score": None},
    ]
    assert mean_scores(rows, "sampled") == {"a": 3.0, "b": None}


class ScriptedDigits:
    """An engine whose next-token probabilities over the score digits are scripted per response.

    It holds the tiny model's real tokenizer, so the digit token ids are the ones `judge_expected` picks for it.
    """

    def __init__(self, probs: dict[str, dict[str, float]], justification: str = ""):
        self.tokenizer = load_tokenizer(str(tiny_checkpoint()))
        self.probs, self.justification, self.asked = probs, justification, []

    def chat(self, text: str) -> str:
        return f"<user>{text}</user>"

    def sample(self, prompts, n, max_new_tokens, temperature, top_p, seeds, stop=None):
        return [[{"text": self.justification}] for _ in prompts]

    def next_token_probs(self, texts: list[str], ids: list[int]) -> torch.Tensor:
        self.asked += texts
        digits = [self.tokenizer.decode([i]) for i in ids]
        response = [next(r for r in self.probs if f"R={r}." in t) for t in texts]
        return torch.tensor([[self.probs[r].get(d, 0.0) for d in digits] for r in response])


# Probability mass on some digits only; the expected score is over the digits' mass alone.
DIGIT_PROBS = {"alpha": {"4": 0.2}, "beta": {"1": 0.3, "5": 0.3}, "gamma": {"0": 0.05, "2": 0.15}}
EXPECTED = {"alpha": 4.0, "beta": 3.0, "gamma": 1.5}  # gamma: (0 * 0.05 + 2 * 0.15) / 0.2


def items_for(responses) -> list[dict]:
    return [{"id": r, "prompt": "Say hi", "response": r} for r in responses]


@pytest.mark.parametrize("after_justification", [False, True])
def test_expected_score_weights_each_digit_by_its_share_of_the_digit_mass(after_justification):
    cfg = OmegaConf.structured(JudgeConfig)
    cfg.expected_after_justification = after_justification
    engine = ScriptedDigits(DIGIT_PROBS, justification="Polite and on topic.  \nScore:")
    rows = judge_expected(engine, "Q={prompt}. R={response}.", items_for(DIGIT_PROBS), cfg)
    assert [r["id"] for r in rows] == list(DIGIT_PROBS)
    assert {r["id"]: r["score"] for r in rows} == pytest.approx(EXPECTED)
    written = "Polite and on topic.\n" if after_justification else ""
    if after_justification:  # the judgment as the judge would write it: justification, then the rounded score
        assert [r["raw"] for r in rows] == [f"{written}Score: {round(EXPECTED[r])}" for r in DIGIT_PROBS]
    else:
        assert [r["raw"] for r in rows] == ["digit mass 0.200", "digit mass 0.600", "digit mass 0.200"]
    assert engine.asked == [f"<user>Q=Say hi. R={r}.</user>{written}Score: " for r in DIGIT_PROBS]


def test_shared_prefix_scoring_equals_one_pass_per_text(monkeypatch):
    from srlm.inference.engines import hf

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
