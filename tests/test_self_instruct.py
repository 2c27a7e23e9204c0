"""The self-instruct prompts stage (`prompts.source=self_instruct`) with a scripted engine in place of the model.

The engine writes, in turn, the texts of a script and records what it was asked; everything else is the stage as a
run calls it: the few-shot prompts, where an instruction ends, the filters, the counts and the rows it writes.
"""

from __future__ import annotations

import re

import pytest

from srlm.config.compose import compose
from srlm.core.io import read_jsonl, write_jsonl
from srlm.core.paths import RunPaths
from srlm.stages import prompts as prompts_stage

SEEDS = [
    "How do I boil an egg?",
    "Name a prime number.",
    "Suggest a name for a cat.",
    "Explain how tides work.",
    "Write a short poem about the sea.",
    "What should I pack for a week of hiking?",
]
EVAL_PROMPT = read_jsonl(compose(["recipe=smoke"]).data.eval_prompts)[0]["prompt"]  # a prompt of the run's eval set
SHOT = re.compile(r"^Task (\d+): (.*)$", re.MULTILINE)


class ScriptedEngine:
    """Stands in for the generator model: each prompt gets the next (text, finish_reason) of the script."""

    def __init__(self, script: list[tuple[str, str]]):
        self.script = list(script)
        self.calls: list[dict] = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def sample(self, prompts, n, max_new_tokens, temperature, top_p, seeds, stop=None):
        self.calls.append(dict(prompts=prompts, n=n, temperature=temperature, top_p=top_p, seeds=seeds, stop=stop))
        assert len(self.script) >= len(prompts), "the stage asked for more than the script holds"
        outs, self.script = self.script[: len(prompts)], self.script[len(prompts) :]
        return [
            [{"text": text, "finish_reason": finish, "prompt_tokens": 1, "completion_tokens": 1}]
            for text, finish in outs
        ]


def stage(tmp_path, monkeypatch, t: int, script: list[tuple[str, str]], *overrides: str):
    """Run the prompts stage of iteration `t` on the scripted engine; (stats, rows written, engine, model asked)."""
    cfg = compose(
        [
            "recipe=smoke",
            f"run_dir={tmp_path}",
            "prompts.source=self_instruct",
            "prompts.per_iteration=3",
            "prompts.num_shots=4",
            "prompts.num_generated_shots=2",
            "generation.backend=hf",
            "generation.batch_size=2",
            *overrides,
        ]
    )
    run = RunPaths(tmp_path)
    run.iteration(0).dir.mkdir(parents=True, exist_ok=True)
    write_jsonl(
        run.iteration(0).ift,
        [{"prompt_id": f"s{i}", "messages": [{"role": "user", "content": s}, {"role": "assistant", "content": "."}]}
         for i, s in enumerate(SEEDS)],
    )  # fmt: skip
    paths = run.iteration(t)
    paths.dir.mkdir(parents=True, exist_ok=True)
    paths.previous.model.mkdir(parents=True, exist_ok=True)
    (paths.previous.model / "config.json").write_text("{}")  # M_t is there; the scripted engine never reads it
    engine, opened = ScriptedEngine(script), []

    def open_engine(cfg, path, backend):
        opened.append((path, backend))
        return engine

    monkeypatch.setattr(prompts_stage, "open_engine", open_engine)
    stats = prompts_stage.run(cfg, paths)
    return stats, read_jsonl(paths.prompts), engine, opened


def ok(text):
    return (text, "stop")


SCRIPT = [
    ok("Plan a three day trip to Lisbon.\nTask 9: Plan a trip to Rome."),  # kept: the lines before the next task
    ok("Explain how tides work."),  # a seed prompt (IFT training data): duplicate
    ok("Describe this picture of a cat for me."),  # bad word
    ok("Hi"),  # too short
    ok("Plan a three day trip to Lisbon!"),  # nearly the prompt kept in the first round: similar
    ("List every prime number below one thousand and then", "length"),  # cut at the token limit
    ok(EVAL_PROMPT),  # an eval prompt: duplicate
    ok("Summarize this email for my manager:\nDear team, the launch moves to May.\nTask 10"),  # kept, both lines
    ok("Name three rivers in Africa and the seas they reach."),  # kept: the third
    ok("Compose a limerick about a forgetful robot."),  # kept past the three asked, then left out
]


def test_self_instruct_keeps_the_instructions_that_pass_the_filters_in_order(tmp_path, monkeypatch):
    stats, rows, engine, opened = stage(tmp_path, monkeypatch, 1, SCRIPT)
    assert [r["prompt"] for r in rows] == [
        "Plan a three day trip to Lisbon.",
        "Summarize this email for my manager:\nDear team, the launch moves to May.",
        "Name three rivers in Africa and the seas they reach.",
    ]
    assert [r["prompt_id"] for r in rows] == ["it1-si-1-0", "it1-si-1-1", "it1-si-1-2"]
    assert {r["source"] for r in rows} == {"self_instruct"}
    assert stats == {
        "prompts": 3,
        "generated": 10,
        "cut": 1,
        "length": 1,
        "bad_word": 1,
        "duplicate": 2,
        "similar": 1,
        "shortfall": 0,
    }
    assert engine.script == []  # five rounds of two: it stops once three are kept
    assert opened == [(str(RunPaths(tmp_path).iteration(0).model), "hf")]  # the generator is M_t by default


def test_the_few_shot_prompt_shows_seed_prompts_then_prompts_kept_in_earlier_rounds(tmp_path, monkeypatch):
    cfg = compose(["recipe=smoke"])
    _, _, engine, _ = stage(tmp_path, monkeypatch, 1, SCRIPT)
    kept_before_round = [[], ["Plan a three day trip to Lisbon."], ["Plan a three day trip to Lisbon."]]
    kept_before_round += [kept_before_round[-1]]
    kept_before_round += [kept_before_round[-1] + ["Summarize this email for my manager:"]]
    for call, kept in zip(engine.calls, kept_before_round, strict=True):
        assert call["n"] == 1 and call["stop"] == [prompts_stage.NEXT_TASK]
        assert (call["temperature"], call["top_p"]) == (cfg.prompts.temperature, cfg.prompts.top_p)
        for prompt in call["prompts"]:
            shots = SHOT.findall(prompt)
            assert [int(i) for i, _ in shots] == list(range(1, 5)), prompt  # 4 shots, numbered
            assert prompt.rstrip().endswith("Task 5:"), prompt  # the model writes the fifth task
            texts = [text for _, text in shots]
            generated = [x for x in texts if x not in SEEDS]
            assert len(set(texts)) == 4 and len(generated) == min(2, len(kept)), (texts, kept)
            assert all(any(k.startswith(g) for k in kept) for g in generated), (generated, kept)
    seeds = [s for call in engine.calls for s in call["seeds"]]
    assert len(set(seeds)) == len(seeds)  # every request its own seed


def test_the_next_iteration_does_not_generate_a_prompt_an_earlier_one_kept(tmp_path, monkeypatch):
    stage(tmp_path, monkeypatch, 1, SCRIPT)
    again = [
        ok("Plan a three day trip to Lisbon."),
        ok("Name three rivers in Africa and the seas they reach."),
        ok("Give me a recipe for a vegan lasagna."),
        ok("Translate 'good morning' into French."),
        ok("Suggest a board game for four players."),
    ]
    stats, rows, _, opened = stage(tmp_path, monkeypatch, 2, [*again, ok("Spare.")])
    assert [r["prompt"] for r in rows] == [
        "Give me a recipe for a vegan lasagna.",
        "Translate 'good morning' into French.",
        "Suggest a board game for four players.",
    ]
    assert stats["duplicate"] == 2 and stats["generated"] == 6
    assert opened == [(str(RunPaths(tmp_path).iteration(1).model), "hf")]  # M_2's prompts come from M_2's model


def test_too_few_kept_prompts_are_a_shortfall_and_none_kept_is_an_error(tmp_path, monkeypatch):
    from srlm.core.errors import SrlmError

    script = [ok("Plan a three day trip to Lisbon.")] + [ok("Hi")] * 99
    stats, rows, engine, _ = stage(tmp_path / "one", monkeypatch, 1, script)
    asked = len(script) - len(engine.script)
    assert engine.script, "the stage gives up after a bounded number of rounds"
    assert [r["prompt"] for r in rows] == ["Plan a three day trip to Lisbon."]
    assert stats["shortfall"] == 2 and stats["generated"] == asked and stats["length"] == asked - 1
    with pytest.raises(SrlmError, match="self_instruct kept no prompt"):
        stage(tmp_path / "none", monkeypatch, 1, [ok("Hi")] * 100)
    assert not RunPaths(tmp_path / "none").iteration(1).prompts.exists()


def test_an_explicit_generator_is_the_model_asked(tmp_path, monkeypatch):
    from srlm.models.tiny import tiny_checkpoint

    generator = str(tiny_checkpoint())
    _, rows, _, opened = stage(tmp_path, monkeypatch, 1, SCRIPT, f"prompts.generator={generator}")
    assert len(rows) == 3 and [path for path, _ in opened] == [generator]
