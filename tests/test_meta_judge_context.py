"""The meta-judge leaves out a comparison whose prompt leaves no room for its reply in the model's context (vLLM
refuses such a prompt and stops the stage), counts it, and judges the rest."""

from types import SimpleNamespace

from srlm.inference.engines.hf import HfEngine
from srlm.models.tiny import tiny_checkpoint
from srlm.stages.meta_judge import within_context


class LimitedEngine(HfEngine):
    """The HF engine on the tiny model with a context limit as vLLM's (`max_model_len`)."""

    limit = 2048

    def max_context(self) -> int | None:
        return self.limit


def engine_with_context(limit: int) -> LimitedEngine:
    engine = LimitedEngine(str(tiny_checkpoint()), "float32")
    engine.limit = limit
    return engine


def test_comparisons_too_long_for_the_context_are_left_out_and_counted(capsys):
    items = [{"id": "short", "meta_prompt": "Which judgment is better?"}, {"id": "long", "meta_prompt": "word " * 300}]
    engine = engine_with_context(2048)
    _, long = (len(ids) for ids in engine.encode([engine.chat(it["meta_prompt"]) for it in items]))
    sampled = SimpleNamespace(mode="sampled", max_new_tokens=32)
    engine.limit = long + sampled.max_new_tokens - 1  # the long one misses by one

    kept, left_out = within_context(engine, items, sampled)

    assert [it["id"] for it in kept] == ["short"] and left_out == 1
    assert "1 of 2 comparison(s) left out" in capsys.readouterr().out
    engine.limit = long + sampled.max_new_tokens  # exactly fits
    assert within_context(engine, items, sampled) == (items, 0)


def test_probability_mode_needs_room_for_one_token_only():
    items = [{"id": "long", "meta_prompt": "word " * 300}]
    engine = engine_with_context(2048)
    (n,) = (len(ids) for ids in engine.encode([engine.chat(items[0]["meta_prompt"])]))
    engine.limit = n + 1
    assert within_context(engine, items, SimpleNamespace(mode="probability", max_new_tokens=64)) == (items, 0)
    assert within_context(engine, items, SimpleNamespace(mode="sampled", max_new_tokens=64))[1] == 1
