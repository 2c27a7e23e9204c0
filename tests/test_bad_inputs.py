"""Bad input files: one line naming the file and line, before any model work."""

import json

import pytest

from srlm.config import compose
from srlm.errors import SrlmError
from srlm.judge import load_template
from srlm.oasst import load_messages
from srlm.paths import RunPaths
from srlm.stages.eval import eval_prompts
from srlm.stages.prompts import pool_prompts


def lines(path, rows, raw: bytes = b""):
    path.write_bytes(b"".join(json.dumps(r).encode() + b"\n" for r in rows) + raw)
    return str(path)


@pytest.mark.parametrize("reader", ["oasst", "eval_prompts", "pool", "template"])
def test_non_utf8_bytes_name_file_line_and_column(tmp_path, reader):
    good = {"message_id": "m", "parent_id": None, "role": "prompter", "text": "hi", "prompt": "hi", "prompt_id": "1"}
    path = lines(tmp_path / "in.jsonl", [good], b'{"text": "caf\xe9"}\n')
    cfg = compose(["recipe=smoke", f"data.eval_prompts={path}", f"prompts.pool={path}"])
    read = {
        "oasst": lambda: load_messages(path),
        "eval_prompts": lambda: eval_prompts(cfg, RunPaths(tmp_path).iteration(1)),
        "pool": lambda: pool_prompts(cfg),
        "template": lambda: load_template(path),
    }[reader]
    with pytest.raises(SrlmError, match=r"in\.jsonl:2: not UTF-8 text \(byte 0xe9 at column 14\)"):
        read()


def test_duplicate_ids_in_the_prompt_pool_are_refused(tmp_path):
    path = lines(tmp_path / "pool.jsonl", [{"prompt_id": "a", "prompt": "x y z"}, {"prompt_id": "a", "prompt": "u v"}])
    with pytest.raises(SrlmError, match=r"pool\.jsonl:2: duplicate id 'a'"):
        pool_prompts(compose(["recipe=smoke", f"prompts.pool={path}"]))


def test_duplicate_ids_and_missing_prompts_in_eval_prompts_are_refused(tmp_path):
    paths = RunPaths(tmp_path).iteration(1)
    dup = lines(tmp_path / "dup.jsonl", [{"prompt_id": "a", "prompt": "x"}, {"prompt_id": "a", "prompt": "y"}])
    with pytest.raises(SrlmError, match=r"dup\.jsonl:2: duplicate id 'a'"):
        eval_prompts(compose(["recipe=smoke", f"data.eval_prompts={dup}"]), paths)
    missing = lines(tmp_path / "missing.jsonl", [{"prompt_id": "a", "text": "x"}])
    with pytest.raises(SrlmError, match=r"missing\.jsonl:1: no prompt field"):
        eval_prompts(compose(["recipe=smoke", f"data.eval_prompts={missing}"]), paths)


def test_a_missing_local_pool_file_does_not_go_to_the_hub(tmp_path):
    with pytest.raises(SrlmError, match=r"nope\.jsonl: prompt pool file not found"):
        pool_prompts(compose(["recipe=smoke", f"prompts.pool={tmp_path / 'nope.jsonl'}"]))


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("model.name=tiny-randm", "`model.name`: unknown model `tiny-randm`: did you mean `tiny-random`"),
        ("model.name=./no-such-checkpoint", "`model.name`: no such model directory ./no-such-checkpoint"),
        ("data.oasst=/no/such/messages.jsonl", "`data.oasst`: no such file /no/such/messages.jsonl"),
        ("prompts.pool=./pool.jsonl", r"`prompts.pool`: no such file \./pool\.jsonl"),
        ("eval.rewardbench=rb.parquet", r"`eval.rewardbench`: no such file rb\.parquet"),
        ("eft.verdict_source=teacher", "`eft.teacher`: eft.verdict_source=teacher needs a teacher model"),
    ],
)
def test_missing_inputs_stop_the_run_and_the_dry_run_before_any_work(tmp_path, override, message):
    from srlm.driver import dry_run, run

    cfg = compose(["recipe=smoke", f"run_dir={tmp_path / 'run'}", override])
    for start in (dry_run, run):
        with pytest.raises(SrlmError, match=f"missing input\\(s\\): {message}"):
            start(cfg)
    assert not (tmp_path / "run").exists()


def test_a_template_with_an_unknown_placeholder_names_its_line(tmp_path):
    path = tmp_path / "judge.txt"
    path.write_text(
        'Rate this.\nQuestion: {prompt}\nAnswer: {response}\nContext: {foo}\nJSON like {"a": 1} is fine.\n'
    )
    with pytest.raises(SrlmError, match=r"judge\.txt:4: unknown placeholder \{foo\}"):
        load_template(str(path))


def test_an_empty_prompt_in_the_pool_is_refused(tmp_path):
    path = lines(tmp_path / "pool.jsonl", [{"prompt_id": "a", "prompt": "x y z"}, {"prompt_id": "b", "prompt": "  "}])
    with pytest.raises(SrlmError, match=r"pool\.jsonl:2: empty prompt"):
        pool_prompts(compose(["recipe=smoke", f"prompts.pool={path}"]))
