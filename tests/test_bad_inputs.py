# ruff: noqa: E501 - the table of bad inputs keeps one case per line
"""Bad input files: one line naming the file and line, before any model work."""

import json
import re

import pytest

from srlm.cli.main import main
from srlm.config.compose import compose
from srlm.core.errors import SrlmError
from srlm.core.paths import RunPaths
from srlm.data.oasst import load_messages
from srlm.data.prompt_pool import pool_prompts
from srlm.rewarding.templates import load_template
from srlm.stages.eval import eval_prompts


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
    from srlm.pipeline.driver import dry_run, run

    cfg = compose(["recipe=smoke", f"run_dir={tmp_path / 'run'}", override])
    for start in (dry_run, run):
        with pytest.raises(SrlmError, match=f"missing input\\(s\\): {message}"):
            start(cfg)
    assert not (tmp_path / "run").exists()


# Every bad input through the `srlm` command, against a finished run: exit 2, one `error:` line naming the key or
# file:line, and not one byte or timestamp of the finished run changed.


def jl(*rows, raw=b""):
    return b"".join(json.dumps(r).encode() + b"\n" for r in rows) + raw


def P(prompt_id, text="Explain tides."):  # noqa: N802 - a row of a prompt file, short to keep the table readable
    return {"prompt_id": prompt_id, "prompt": text}


def V(instruction_id, kwargs):  # noqa: N802 - a verifiable row in IFEval's schema
    return {"key": 7, "prompt": "Describe tea.", "instruction_id_list": [instruction_id], "kwargs": [kwargs]}


MSG = {"message_id": "m1", "parent_id": None, "role": "prompter", "text": "hi", "lang": "en"}
# (name, overrides with {file} for a file of the case, {file: bytes}, expected message)
BAD_INPUTS = [
    ("temperature", ["generation.temperature=-0.5"], {}, r"`generation\.temperature` = -0\.5; expected a number >= 0$"),
    ("top_p", ["generation.top_p=1.5"], {}, r"`generation\.top_p` = 1\.5; expected a number in \(0, 1\]"),
    ("top_p_neg", ["judge.top_p=-0.1"], {}, r"`judge\.top_p` = -0\.1"),
    ("batch0", ["generation.batch_size=0"], {}, r"`generation\.batch_size` = 0; expected a number > 0"),
    ("max_new0", ["generation.max_new_tokens=0"], {}, r"`generation\.max_new_tokens` = 0; expected a number > 0"),
    ("judge_batch", ["judge.batch_size=-3"], {}, r"`judge\.batch_size` = -3; expected a number > 0"),
    ("beta", ["dpo.beta=-1"], {}, r"`dpo\.beta` = -1\.0; expected a number > 0"),
    ("sft_lr", ["sft.learning_rate=-1"], {}, r"`sft\.learning_rate` = -1\.0; expected a number > 0"),
    ("drop", ["eft.drop_score_fraction=2"], {}, r"`eft\.drop_score_fraction` = 2\.0; expected a number in \[0, 1\]"),
    ("loss", ["dpo.loss_type=[sigmoid,foo]"], {}, r"`dpo\.loss_type` = \['sigmoid', 'foo'\]; expected a list of TRL DPO loss types: .*sigmoid"),
    ("min_lr", ["dpo.min_lr=1"], {}, r"`dpo\.min_lr` = 1\.0; expected <= dpo\.learning_rate"),
    ("max_steps", ["sft.max_steps=0"], {}, r"`sft\.max_steps` = 0; expected -1 \(epochs\) or >= 1"),
    ("candidates1", ["generation.num_candidates=1"], {}, r"generation\.num_candidates"),
    ("candidates_str", ["generation.num_candidates=four"], {}, r"`generation\.num_candidates`: Value 'four' .* Integer"),
    ("enum", ["judge.mode=vibes"], {}, r"`judge\.mode`: Invalid value 'vibes', expected one of"),
    ("misspelt", ["dpo.learning_rat=1e-6"], {}, r"^[^+]*unknown key `dpo\.learning_rat`: did you mean `dpo\.learning_rate`[^+]*$"),  # never hydra's +key advice
    ("plus", ["+dpo.learning_rat=1e-6"], {}, r"unknown key `dpo\.learning_rat`: did you mean"),
    ("null_block", ["model.lora.r=8"], {}, r"cannot set model\.lora\.r here: its block is null"),
    ("recipe", ["recipe=nope"], {}, r"unknown recipe `nope`"),
    ("max_prompt_tokens", ["data.max_prompt_tokens=0"], {}, r"`data\.max_prompt_tokens` = 0"),
    ("iterations", ["num_iterations=-1"], {}, r"`num_iterations` = -1; expected an integer >= 0"),
    ("judge_samples", ["judge.num_samples=0"], {}, r"`judge\.num_samples` = 0; expected at least 1"),
    ("per_iteration", ["prompts.per_iteration=0"], {}, r"`prompts\.per_iteration` = 0; expected at least 1"),
    ("seed", ["seed=abc"], {}, r"`seed`: Value 'abc'"),
    ("model_typo", ["model.name=tiny-randm"], {}, r"`model\.name`: unknown model `tiny-randm`: did you mean"),
    ("model_dir", ["model.name=./no-such-checkpoint"], {}, r"`model\.name`: no such model directory"),
    ("oasst_missing", ["data.oasst=/no/such/messages.jsonl"], {}, r"`data\.oasst`: no such file"),
    ("pool_missing", ["prompts.pool=./pool.jsonl"], {}, r"`prompts\.pool`: no such file"),
    ("rb_missing", ["eval.rewardbench=rb.parquet"], {}, r"`eval\.rewardbench`: no such file"),
    ("teacher", ["eft.verdict_source=teacher"], {}, r"`eft\.teacher`"),
    ("template_missing", ["judge.template=/no/such.txt"], {}, r"`judge\.template`: no such file"),
    ("pool_utf8", ["prompts.pool={pool.jsonl}"], {"pool.jsonl": jl(P("a"), raw=b'{"prompt": "caf\xe9"}\n')}, r"pool\.jsonl:2: not UTF-8"),
    ("pool_dup", ["prompts.pool={pool.jsonl}"], {"pool.jsonl": jl(P("a"), P("a", "Other?"))}, r"pool\.jsonl:2: duplicate id 'a'"),
    ("pool_empty_prompt", ["prompts.pool={pool.jsonl}"], {"pool.jsonl": jl(P("a"), P("b", " "))}, r"pool\.jsonl:2: empty prompt"),
    ("pool_no_field", ["prompts.pool={pool.jsonl}"], {"pool.jsonl": jl(P("a"), {"prompt_id": "b", "text": "x"})}, r"pool\.jsonl:2: no field `prompt`"),
    ("pool_bad_json", ["prompts.pool={pool.jsonl}"], {"pool.jsonl": jl(P("a"), raw=b"{not json\n")}, r"pool\.jsonl:2: not valid JSON"),
    ("pool_empty_file", ["prompts.pool={pool.jsonl}"], {"pool.jsonl": b""}, r"pool\.jsonl: no prompts \(prompts\.pool\)"),
    ("pool_not_object", ["prompts.pool={pool.jsonl}"], {"pool.jsonl": jl(P("a"), raw=b"[1, 2]\n")}, r"pool\.jsonl:2: expected a JSON object"),
    ("eval_dup", ["data.eval_prompts={ev.jsonl}"], {"ev.jsonl": jl(P("a"), P("a", "Why?"))}, r"ev\.jsonl:2: duplicate id 'a'"),
    ("eval_no_prompt", ["data.eval_prompts={ev.jsonl}"], {"ev.jsonl": jl({"prompt_id": "a", "text": "x"})}, r"ev\.jsonl:1: no prompt field"),
    ("eval_utf8", ["data.eval_prompts={ev.jsonl}"], {"ev.jsonl": jl(P("a"), raw=b'{"prompt": "\xff"}\n')}, r"ev\.jsonl:2: not UTF-8"),
    ("eval_empty_file", ["data.eval_prompts={ev.jsonl}"], {"ev.jsonl": b""}, r"ev\.jsonl: no prompts"),
    ("eval_empty_prompt", ["data.eval_prompts={ev.jsonl}"], {"ev.jsonl": jl(P("a"), P("b", ""))}, r"ev\.jsonl:2: empty prompt"),
    ("oasst_utf8", ["data.oasst={msgs.jsonl}"], {"msgs.jsonl": jl(MSG, raw=b'{"text": "\xe9"}\n')}, r"msgs\.jsonl:2: not UTF-8"),
    ("oasst_no_role", ["data.oasst={msgs.jsonl}"], {"msgs.jsonl": jl(MSG, {"message_id": "m2", "parent_id": "m1", "text": "x"})}, r"msgs\.jsonl:2: missing field\(s\) role"),
    ("oasst_dup", ["data.oasst={msgs.jsonl}"], {"msgs.jsonl": jl(MSG, MSG)}, r"msgs\.jsonl:2: duplicate message_id 'm1'"),
    ("template_placeholder", ["judge.template={t.txt}"], {"t.txt": b"Q: {prompt}\nA: {response}\nC: {foo}\n"}, r"t\.txt:3: unknown placeholder \{foo\}"),
    ("template_no_response", ["judge.template={t.txt}"], {"t.txt": b"Q: {prompt}\n"}, r"t\.txt: judge template lacks placeholder\(s\) \{response\}"),
    ("rb_no_chosen", ["eval.rewardbench={rb.jsonl}"], {"rb.jsonl": jl({"prompt": "p", "rejected": "r", "subset": "x"})}, r"rb\.jsonl:1: missing field\(s\) chosen"),
    ("rb_bad_json", ["eval.rewardbench={rb.jsonl}"], {"rb.jsonl": b"{oops\n"}, r"rb\.jsonl:1: not valid JSON"),
    ("ifeval_unknown_id", ["eval.ifeval={v.jsonl}"], {"v.jsonl": jl(V("punctuation:no_colon", {}))}, r"v\.jsonl:1: unknown instruction id 'punctuation:no_colon'"),
    ("ifeval_mistyped", ["eval.ifeval={v.jsonl}"], {"v.jsonl": jl(V("length_constraints:number_words", {"num_words": "9", "relation": "at least"}))}, r"v\.jsonl:1: .*`num_words` = '9'; expected an integer"),
    ("pool_missing_kwarg", ["prompts.pool={pool.jsonl}"], {"pool.jsonl": jl(P("a"), V("keywords:existence", {}))}, r"pool\.jsonl:2: keywords:existence: missing argument\(s\) keywords"),
    ("verdicts_bad_json", ["eft.verdict_source=written", "data.verdicts={v.jsonl}"], {"v.jsonl": b'{"message_id": "m1"}\n{oops\n'}, r"v\.jsonl:2: not valid JSON"),
    ("meta_one_judgment", ["meta.enabled=true", "judge.num_samples=1"], {}, r"`judge\.num_samples` = 1; expected at least 2 with meta\.enabled"),
    ("meta_share", ["meta.max_judge_share=1.5"], {}, r"`meta\.max_judge_share` = 1\.5; expected a share in \(0, 1\)"),
    ("length_margin", ["pairs.length_margin=0.7"], {}, r"`pairs\.length_margin` = 0\.7; expected a share of the score range"),
    ("run_dir_file", ["run_dir={afile}/run"], {"afile": b"x"}, r"a file is in the way"),
    ("run_dir_empty", ["run_dir="], {}, r"`run_dir` = ''; expected a directory"),
    ("top_p_zero", ["generation.top_p=0"], {}, r"`generation\.top_p` = 0\.0; expected a number in \(0, 1\]"),
    ("model_schema", ["model=schema"], {}, r"`model`: no option `schema`; options: llama2-70b, llama3-8b, llama3-8b-lora, smollm2-135m-instruct, tiny-random \(conf/model/\)$"),
    ("model_group_nope", ["model=nope"], {}, r"`model`: no option `nope`; options: llama2-70b, .*tiny-random \(conf/model/\)$"),
    ("logger_nope", ["logger=nope"], {}, r"`logger`: no option `nope`; did you mean `none`\? options: none, wandb \(conf/logger/\)$"),
    ("oasst_empty_root", ["data.oasst={msgs.jsonl}"], {"msgs.jsonl": jl(MSG, {**MSG, "message_id": "m2", "text": " "})}, r"msgs\.jsonl:2: empty prompt in field `text`"),
    ("rb_empty_prompt", ["eval.rewardbench={rb.jsonl}"], {"rb.jsonl": jl({"prompt": "p", "chosen": "c", "rejected": "r", "subset": "x"}, {"prompt": "", "chosen": "c", "rejected": "r", "subset": "x"})}, r"rb\.jsonl:2: empty prompt \(RewardBench schema\)"),
    ("evaluator_typo", ["eval.evaluator=sefl"], {}, r"`eval\.evaluator`: unknown evaluator \(seed, self, endpoint or a model\) `sefl`: did you mean `self`\?"),
    ("temperature_zero", ["generation.temperature=0"], {}, r"`generation\.temperature` = 0\.0; expected a number > 0 \(the N candidates"),
    ("judge_temperature_zero", ["meta.enabled=true", "judge.temperature=0"], {}, r"`judge\.temperature` = 0\.0; expected a number > 0 with 2 judgments per response"),
    ("model_dir_readme", ["model.name={ckpt}"], {"ckpt/README.md": b"# my model\n"}, r"`model\.name`: \S+ckpt holds no model \(no config\.json"),
    ("model_config_cut", ["model.name={ckpt}"], {"ckpt/config.json": b'{\n  "model_type": "llama",\n  "hidden_si', "ckpt/model.safetensors": b"x"}, r"`model\.name`: \S+ckpt/config\.json:3: not valid JSON"),
    ("model_no_weights", ["model.name={ckpt}"], {"ckpt/config.json": b'{"model_type": "llama"}'}, r"`model\.name`: \S+ckpt holds no weights"),
    ("model_no_tokenizer", ["model.name={ckpt}"], {"ckpt/config.json": b'{"model_type": "llama"}', "ckpt/model.safetensors": b"x"}, r"`model\.name`: \S+ckpt holds no tokenizer"),
    ("hub_offline_uncached", ["model.name=HuggingFaceTB/SmolLM2-135M-Instrct"], {}, r"`model\.name`: model `HuggingFaceTB/SmolLM2-135M-Instrct` is not in the local hub cache and the hub is off"),
    ("pool_too_small", ["prompts.pool={pool.jsonl}", "prompts.per_iteration=2"], {"pool.jsonl": jl(P("a"), P("b", "Why?"), P("c", "How?"))}, r"`prompts\.pool`: \S+pool\.jsonl holds 3 prompts apart from the eval sets; the iterations take 4"),
    ("oasst_is_dir", ["data.oasst={adir}"], {"adir/x.txt": b"x"}, r"`data\.oasst`: \S+adir is a directory \(expected a file\)"),
]  # fmt: skip


def every_file(run_dir):
    return {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(run_dir.rglob("*")) if p.is_file()}


@pytest.mark.slow
@pytest.mark.parametrize(("name", "overrides", "files", "expected"), BAD_INPUTS, ids=[c[0] for c in BAD_INPUTS])
def test_bad_input_is_one_error_line_and_the_finished_run_is_untouched(
    tmp_path, finished_meta_run, capsys, name, overrides, files, expected
):
    finished_run = finished_meta_run
    for file, data in files.items():
        (tmp_path / file).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / file).write_bytes(data)
    args = [re.sub(r"\{([^}]+)\}", lambda m: str(tmp_path / m.group(1)), o) for o in overrides]
    if not any(a.startswith("run_dir=") for a in args):
        args.append(f"run_dir={finished_run}")
    before = every_file(finished_run)
    code = main(["run", "recipe=smoke", *args])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and err.startswith("error: "), err
    assert re.search(expected, err), err
    assert every_file(finished_run) == before


@pytest.mark.slow
def test_a_run_directory_whose_manifest_is_gone_is_refused_not_overwritten(tmp_path, finished_meta_run, capsys):
    import shutil

    from conftest import META_SMOKE

    run_dir = tmp_path / "run"
    shutil.copytree(finished_meta_run, run_dir)
    (run_dir / "manifest.json").unlink()
    before = every_file(run_dir)
    for dry in ([], ["--dry-run"]):
        assert main(["run", *dry, *META_SMOKE, f"run_dir={run_dir}"]) == 2
        err = capsys.readouterr().err.strip()
        assert re.fullmatch(rf"error: {run_dir}/manifest\.json: no such file, but {run_dir} holds a run's outputs "
                            r"\(iteration_0, iteration_1, iteration_2\); the manifest records which stages are done: "
                            r"restore it to resume, or use another run_dir to start over", err)  # fmt: skip
    assert every_file(run_dir) == before


def test_a_hub_id_is_asked_once_and_an_unreachable_hub_is_not_an_error(capsys, monkeypatch):
    import huggingface_hub

    from srlm.pipeline.preflight import hub_problems

    cfg = compose(["recipe=smoke", "model.name=srlm-tests/no-such-model-7f3a"])
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    found = hub_problems(cfg)
    asked = capsys.readouterr().out.splitlines()
    if found and "on the hub" in found[0]:  # the hub answered
        assert found == [
            "`model.name`: no model `srlm-tests/no-such-model-7f3a` on the hub (a typo, or private: log in first)"
        ]
    else:  # no network: the model is not in the cache, so the run could not load it
        assert asked == [] and len(found) == 1
        assert re.fullmatch(r"`model\.name`: model `\S+` is not in the local hub cache and the hub cannot be "
                            r"reached \(\w+\); download it first or fix the name", found[0])  # fmt: skip


def hub_cache_with(tmp_path, repo_id: str):
    """A hub cache (huggingface_hub's layout) holding `repo_id`'s config.json."""
    repo = tmp_path / "hub" / f"models--{repo_id.replace('/', '--')}"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("0" * 40)
    (repo / "snapshots" / ("0" * 40)).mkdir(parents=True)
    (repo / "snapshots" / ("0" * 40) / "config.json").write_text("{}")
    return tmp_path / "hub"


@pytest.mark.parametrize("hub", ["offline", "unreachable"])
def test_a_hub_model_that_cannot_be_fetched_must_be_cached(tmp_path, capsys, monkeypatch, hub):
    import huggingface_hub

    from srlm.pipeline.preflight import hub_problems

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(hub_cache_with(tmp_path, "srlm-tests/cached")))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", hub == "offline")
    monkeypatch.setattr(huggingface_hub.hf_api.api, "endpoint", "http://127.0.0.1:9")  # nothing listens there
    why = "the hub is off \\(HF_HUB_OFFLINE\\)" if hub == "offline" else "the hub cannot be reached \\(\\w+\\)"
    (line,) = hub_problems(compose(["recipe=smoke", "model.name=srlm-tests/not-cached"]))
    assert re.fullmatch(f"`model\\.name`: model `srlm-tests/not-cached` is not in the local hub cache and {why}; "
                        "download it first or fix the name", line)  # fmt: skip
    capsys.readouterr()
    assert hub_problems(compose(["recipe=smoke", "model.name=srlm-tests/cached"])) == []
    noted = capsys.readouterr().out.splitlines()
    expected = [] if hub == "offline" else [r"\[srlm\] `model\.name`: could not ask the hub whether model "
                                             r"srlm-tests/cached exists \(\w+\)"]  # fmt: skip
    assert len(noted) == len(expected) and all(map(re.fullmatch, expected, noted))


def test_a_dry_run_may_plan_a_hub_model_this_machine_lacks(tmp_path, capsys):
    from srlm.pipeline.driver import dry_run

    lines = dry_run(compose(["recipe=smoke", f"run_dir={tmp_path}", "model.name=srlm-tests/not-cached"]))
    assert lines and "is not in the local hub cache" in capsys.readouterr().out


def test_greedy_judging_with_one_verdict_per_response_is_accepted():
    cfg = compose(["recipe=smoke", "judge.mode=sampled", "judge.num_samples=1", "judge.temperature=0"])
    assert cfg.judge.temperature == 0
