# ruff: noqa: E501 - the tables keep one case per line
"""Verifiable instructions: the checker library through srlm's code path, IFEval figures, the reward audit,
pair sources, `srlm eval --ifeval` (killed and resumed) and bad verifiable rows."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from srlm.cli.main import main
from srlm.config.compose import compose
from srlm.core.errors import SrlmError
from srlm.core.io import read_json, read_jsonl
from srlm.core.paths import RunPaths
from srlm.data.verifiable import NEEDS_PUNKT, load_verifiable, punkt_available, registry, supported_ids, verify

REPO = Path(__file__).resolve().parents[1]
SETS = {name: REPO / "data" / "verifiable" / f"{name}.jsonl" for name in ("train", "dev", "eval")}
BULLETS = "* one\n* two"
JSON_TEXT = '{"answer": "tea"}'

# id -> (kwargs, a response that passes, one that fails): what IFEval's checkers are documented to accept
CASES = {
    "keywords:existence": ({"keywords": ["tea", "cup"]}, "A cup of tea.", "A glass of water."),
    "keywords:frequency": ({"keyword": "tea", "frequency": 2, "relation": "at least"}, "tea and tea", "tea once"),
    "keywords:forbidden_words": ({"forbidden_words": ["very"]}, "It is hot.", "It is very hot."),
    "keywords:letter_frequency": ({"letter": "z", "let_frequency": 2, "let_relation": "at least"}, "zoo zap", "zoo"),
    "language:response_language": ({"language": "en"}, "This answer is written in plain English words.",
                                   "Cette réponse est écrite entièrement en français."),
    "length_constraints:number_paragraphs": ({"num_paragraphs": 2}, "First.\n***\nSecond.", "Only one."),
    "length_constraints:number_words": ({"num_words": 3, "relation": "less than"}, "Two words", "One two three four"),
    "length_constraints:nth_paragraph_first_word": (
        {"num_paragraphs": 2, "nth_paragraph": 2, "first_word": "then"}, "First.\n\nThen more.", "First.\n\nNow more."),
    "detectable_content:number_placeholders": ({"num_placeholders": 1}, "Go to [address].", "Go home."),
    "detectable_content:postscript": ({"postscript_marker": "P.S."}, "Hello.\nP.S. Bye.", "Hello. Bye."),
    "detectable_format:number_bullet_lists": ({"num_bullets": 2}, BULLETS, "* one"),
    "detectable_format:constrained_response": ({}, "My answer is yes.", "Sure thing."),
    "detectable_format:number_highlighted_sections": ({"num_highlights": 1}, "A *key* idea.", "A key idea."),
    "detectable_format:multiple_sections": (
        {"section_spliter": "SECTION", "num_sections": 2}, "SECTION 1\na\nSECTION 2\nb", "SECTION 1\na"),
    "detectable_format:json_format": ({}, JSON_TEXT, "answer: tea"),
    "detectable_format:title": ({}, "<<Tea>>\nBrew it.", "Tea\nBrew it."),
    "combination:two_responses": ({}, "Yes.\n******\nNo.", "Yes."),
    "combination:repeat_prompt": ({"prompt_to_repeat": "Say hi."}, "Say hi. Hi!", "Hi!"),
    "startend:end_checker": ({"end_phrase": "Bye now."}, "Thanks. Bye now.", "Bye now. Thanks."),
    "change_case:english_capital": ({}, "ALL CAPS HERE.", "Not all caps."),
    "change_case:english_lowercase": ({}, "all lowercase here.", "Not lowercase."),
    "punctuation:no_comma": ({}, "No commas here.", "One, two."),
    "startend:quotation": ({}, '"Quoted."', "Not quoted."),
    "length_constraints:number_sentences": ({"num_sentences": 2, "relation": "less than"}, "One.", "One. Two. Three."),
    "change_case:capital_word_frequency": (
        {"capital_frequency": 2, "capital_relation": "at least"}, "THIS IS loud", "this is quiet"),
}  # fmt: skip


def row(instruction_id: str, kwargs: dict, prompt: str = "Say hi.") -> dict:
    return {"prompt": prompt, "instruction_id_list": [instruction_id], "kwargs": [kwargs]}


def test_the_cases_cover_every_instruction_type_of_the_registry():
    assert set(CASES) == set(registry())


@pytest.mark.parametrize("instruction_id", sorted(CASES))
def test_each_supported_type_passes_and_fails_through_srlms_verifier(instruction_id):
    if instruction_id not in supported_ids():
        pytest.skip("needs NLTK's punkt data, not installed here")
    kwargs, good, bad = CASES[instruction_id]
    assert verify(row(instruction_id, kwargs), good)["follow_instruction_list"] == [True]
    assert verify(row(instruction_id, kwargs), bad)["follow_instruction_list"] == [False]


def test_punkt_types_are_left_out_with_a_message_when_the_data_is_missing(tmp_path, capsys):
    if punkt_available():
        pytest.skip("NLTK's punkt data is installed here")
    rows = [{"key": k, **row(i, CASES[i][0])} for k, i in enumerate(NEEDS_PUNKT)]
    rows.append({"key": 2, **row("punctuation:no_comma", {})})
    path = tmp_path / "p.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    kept, left_out = load_verifiable(str(path))
    assert [r["prompt_id"] for r in kept] == ["2"] and set(left_out) == set(NEEDS_PUNKT)
    assert "NLTK's punkt data is not installed" in capsys.readouterr().out


def test_rows_of_ifevals_hub_copy_with_every_argument_key_load(tmp_path):
    every = {name: None for i in registry() for name in registry()[i](i).get_instruction_args_keys()}
    hub_row = {
        "key": 5,
        "prompt": "Say hi.",
        "instruction_id_list": ["keywords:existence"],
        "kwargs": [{**every, "keywords": ["hi"]}],
    }
    path = tmp_path / "hub.jsonl"
    path.write_text(json.dumps(hub_row) + "\n")
    (kept,), _ = load_verifiable(str(path))
    assert verify(kept, "hi there")["follow_instruction_list"] == [True]


def test_loose_accepts_what_strict_refuses():
    verdict = verify(row("startend:end_checker", {"end_phrase": "Bye now."}), "Thanks. **Bye now.**")
    assert verdict["follow_instruction_list"] == [False] and verdict["follow_instruction_list_loose"] == [True]


# ------------------------------------------------------------------------------------------- shipped prompt sets


def test_shipped_sets_load_and_span_the_types_single_and_combined():
    for name, path in SETS.items():
        rows, left_out = load_verifiable(str(path))
        types = {i for r in rows for i in r["instruction_id_list"]}
        assert not left_out and len(types) >= 15, name
        assert {len(r["instruction_id_list"]) for r in rows} == {1, 2}, name


def test_shipped_sets_share_no_prompt_or_task_with_each_other_or_the_seed_sets():
    from srlm.data.eval_sets import load_prompt_set
    from srlm.data.prompt_sets import normalize

    seed = REPO / "data" / "seed"
    others = {
        normalize(r["prompt"])
        for f in ("eval_prompts", "prompt_pool")
        for r in load_prompt_set(str(seed / f"{f}.jsonl"))
    }
    others |= {normalize(r["text"]) for r in read_jsonl(seed / "messages.jsonl")}
    others |= {normalize(r["prompt"]) for r in read_jsonl(seed / "preferences.jsonl")}
    tasks = {}
    for name, path in SETS.items():
        prompts = [r["prompt"] for r in read_jsonl(path)]
        tasks[name] = {p.split(". ")[0] for p in prompts}  # the task is the prompt's first sentence
        assert not {normalize(p) for p in prompts} & others, name
    assert (
        not tasks["train"] & tasks["dev"] and not tasks["train"] & tasks["eval"] and not tasks["dev"] & tasks["eval"]
    )


def test_held_out_verifiable_prompts_are_kept_from_the_pool_and_refused_when_trained_on(tmp_path):
    from srlm.stages.eval import ifeval_prompts
    from srlm.stages.prompts import excluded_prompts

    cfg = compose(["recipe=smoke", f"run_dir={tmp_path}", f"eval.ifeval={SETS['dev']}"])
    dev = [r["prompt"] for r in read_jsonl(SETS["dev"])]
    from srlm.data.prompt_sets import normalize

    assert {normalize(p) for p in dev} <= excluded_prompts(cfg, RunPaths(tmp_path).iteration(1))
    with pytest.raises(SrlmError, match=r"dev\.jsonl: 1 prompt\(s\) also used for training"):
        ifeval_prompts(cfg, {normalize(dev[3])})


# ------------------------------------------------------------------------------------------------ IFEval figures


def result(ids, strict, loose):
    return {"instruction_id_list": ids, "follow_instruction_list": strict, "follow_instruction_list_loose": loose}


def test_ifeval_figures_of_known_verdicts():
    from srlm.evaluation.ifeval import ifeval_scores

    a, b = "punctuation:no_comma", "keywords:existence"
    scores = ifeval_scores(
        [result([a, b], [True, True], [True, True]), result([a, b], [True, False], [True, True]),
         result([b], [False], [False])]
    )  # fmt: skip
    assert scores["prompt_strict_accuracy"] == pytest.approx(1 / 3)
    assert scores["prompt_loose_accuracy"] == pytest.approx(2 / 3)
    assert scores["instruction_strict_accuracy"] == pytest.approx(3 / 5)
    assert scores["instruction_loose_accuracy"] == pytest.approx(4 / 5)
    assert scores["groups"]["punctuation"]["accuracy"] == 1.0
    assert scores["groups"]["keywords"]["accuracy"] == pytest.approx(1 / 3)
    for name, (lo, hi) in scores["intervals"].items():
        assert lo <= scores[name] <= hi and hi - lo > 0, name


def test_difference_of_two_models_on_the_same_prompts_is_paired():
    from srlm.evaluation.ifeval import difference

    a = "punctuation:no_comma"
    seed = [{"key": str(k), **result([a], [k < 2], [k < 2])} for k in range(8)]  # passes prompts 0, 1
    ours = [{"key": str(k), **result([a], [k < 6], [k < 6])} for k in range(8)]  # passes prompts 0-5
    diff = difference(ours, seed)
    assert diff["prompts"] == 8 and diff["value"] == pytest.approx(4 / 8)
    assert 0 < diff["interval"][0] <= 0.5 <= diff["interval"][1]
    assert difference(seed, seed)["interval"] == [0.0, 0.0]


# ------------------------------------------------------------------------------------------------- reward audit

# Prompt A (no commas, lowercase): a0 passes 2, a1 1, a2 0; the judge scores 5, 3, 4: right on (a0, a1) and
# (a0, a2), wrong on (a1, a2). Prompt B (no commas): b0 passes, b1 fails, the judge ties them: wrong.
# Prompt C has no verifiable instruction; D's candidates both pass. Judge-verifier accuracy 2/4, ties 1/4.
A = {"instruction_id_list": ["punctuation:no_comma", "change_case:english_lowercase"], "kwargs": [{}, {}]}
B = {"instruction_id_list": ["punctuation:no_comma"], "kwargs": [{}]}
HAND_BUILT = [
    ("A", A, [("hi there.", 5), ("Hi there.", 3), ("Hi, there.", 4)]),
    ("B", B, [("hi", 2), ("hi, there", 2)]),
    ("C", {}, [("one", 1), ("two", 4)]),
    ("D", B, [("hi", 1), ("hey", 3)]),
]


def hand_built_iteration(tmp_path: Path, source: str):
    from srlm.core.io import write_jsonl

    cfg = compose(["recipe=smoke", f"run_dir={tmp_path}", "judge.mode=sampled", f"judge.source={source}"])
    paths = RunPaths(tmp_path).iteration(1)
    paths.dir.mkdir(parents=True)
    prompts, candidates, judgments = [], [], []
    for pid, fields, answers in HAND_BUILT:
        prompts.append({"prompt_id": pid, "prompt": f"Prompt {pid}.", **fields})
        for j, (text, score) in enumerate(answers):
            cid = f"{pid}/c{j}"
            candidates.append({"prompt_id": pid, "candidate_id": cid, "prompt": f"Prompt {pid}.", "text": text})
            judgments.append({"candidate_id": cid, "mode": "sampled", "sample": 0, "score": score, "raw": ""})
    write_jsonl(paths.prompts, prompts)
    write_jsonl(paths.candidates, candidates)
    write_jsonl(paths.judgments, judgments)
    return cfg, paths


def test_audit_of_a_hand_built_judgments_file(tmp_path):
    from srlm.stages import pairs

    cfg, paths = hand_built_iteration(tmp_path, "self")
    stats = pairs.run(cfg, paths)
    audit = read_json(paths.reward_audit)
    assert audit["verifier_ordered_pairs"] == 4 and audit["judge_verifier_accuracy"] == 0.5
    assert audit["judge_tie_share"] == 0.25
    lo, hi = audit["judge_verifier_accuracy_interval"]
    assert lo < 0.5 < hi
    assert audit["spearman"] == pytest.approx(1.5 / (9.5 * 9) ** 0.5)  # ranks of A's and B's worked out by hand
    assert audit["spearman_interval"] is not None
    # the self-judge's pairs: A gives (a0, a1) (the verifier agrees), B ties, C is not verifiable, D passes alike
    assert audit["verifiable_pairs"] == 2 and audit["chosen_passes_more_share"] == 0.5
    assert audit["chosen_passes_same_share"] == 0.5 and audit["chosen_passes_fewer_share"] == 0.0
    assert audit["mean_self_score"] == pytest.approx(20 / 7) and audit["verified_pass_rate"] == pytest.approx(4 / 7)
    assert audit["verified_instruction_rate"] == pytest.approx(6 / 10)
    assert stats["source"] == "self" and stats["reward_audit"]["judge_verifier_accuracy"] == 0.5


def test_the_verifier_and_random_sources_make_their_own_pairs(tmp_path):
    from srlm.stages import pairs

    cfg, paths = hand_built_iteration(tmp_path / "oracle", "verifier")
    pairs.run(cfg, paths)
    chosen = {(p["chosen_id"], p["rejected_id"]) for p in read_jsonl(paths.pairs)}
    assert chosen == {("A/c0", "A/c2"), ("B/c0", "B/c1")}  # C: no verifiable instruction, D: a tie; no pair
    cfg, paths = hand_built_iteration(tmp_path / "floor", "random")
    pairs.run(cfg, paths)
    assert {p["prompt_id"] for p in read_jsonl(paths.pairs)} == {"A", "B", "C", "D"}  # every prompt, ties drawn apart


def test_drift_warning_when_self_scores_rise_while_verified_accuracy_falls():
    from srlm.evaluation.reward_audit import drift_warning

    rising = {
        1: {"mean_self_score": 3.0, "verified_pass_rate": 0.5},
        2: {"mean_self_score": 3.5, "verified_pass_rate": 0.4},
    }
    assert "iteration 1 -> 2: self-score 3.00 -> 3.50, verified pass rate 0.50 -> 0.40" in drift_warning(rising)
    rising[2]["verified_pass_rate"] = 0.6
    assert drift_warning(rising) is None


def test_chance_warning_names_the_iterations_whose_judge_interval_reaches_one_half():
    from srlm.evaluation.reward_audit import chance_warning

    audit = {
        1: {"judge_verifier_accuracy": 0.80, "judge_verifier_accuracy_interval": [0.62, 0.93]},
        2: {"judge_verifier_accuracy": 0.54, "judge_verifier_accuracy_interval": [0.39, 0.69]},
        3: {"judge_verifier_accuracy": None, "judge_verifier_accuracy_interval": None},
    }
    assert chance_warning(audit).endswith("against the verifier: iteration 2 0.54 [0.39, 0.69]")
    audit[2]["judge_verifier_accuracy_interval"] = [0.51, 0.69]
    assert chance_warning(audit) is None


@pytest.mark.parametrize("source", ["verifier", "random"])
def test_oracle_and_random_pairs_in_a_smoke_run_with_ifeval_every_iteration(tmp_path, capsys, source):
    # "at least 3 words": the tiny random model's byte soup passes it on some candidates and not on others
    pool = [{"key": k, "prompt": f"Name {k} things in a kitchen. Answer with at least 3 words.",
             "instruction_id_list": ["length_constraints:number_words"], "kwargs": [{"num_words": 3, "relation": "at least"}]}
            for k in range(12)]  # fmt: skip
    (tmp_path / "pool.jsonl").write_text("".join(json.dumps(r) + "\n" for r in pool))
    (tmp_path / "heldout.jsonl").write_text("".join(json.dumps(r) + "\n" for r in read_jsonl(SETS["dev"])[:6]))
    run_dir = tmp_path / "run"
    args = ["run", "recipe=smoke", f"run_dir={run_dir}", "num_iterations=1", f"prompts.pool={tmp_path / 'pool.jsonl'}",
            "prompts.per_iteration=8", "generation.num_candidates=4", f"eval.ifeval={tmp_path / 'heldout.jsonl'}",
            f"judge.source={source}"]  # fmt: skip
    assert main(args) == 0
    it1 = RunPaths(run_dir).iteration(1)
    stats, audit = read_json(it1.pairs_stats), read_json(it1.reward_audit)
    assert stats["source"] == source and stats["pairs"] > 0
    if source == "verifier":  # the oracle's chosen candidate always passes more constraints than its rejected one
        assert audit["chosen_passes_more_share"] == 1.0
    else:  # random pairs: every prompt of distinct candidates gives one
        assert stats["pairs"] == stats["prompts"]
    for t in (0, 1):
        scores = read_json(RunPaths(run_dir).iteration(t).eval_json)["ifeval"]
        assert scores["prompts"] == 6 and scores["intervals"]["prompt_strict_accuracy"]
    evaluated = read_json(it1.eval_json)
    assert evaluated["ifeval"]["prompt_strict_vs_seed"]["prompts"] == 6 and evaluated["reward_audit"] == audit
    capsys.readouterr()
    assert main(["status", str(run_dir)]) == 0
    assert "verifiable check" in capsys.readouterr().out


# --------------------------------------------------------------------------------------------------- bad input

BAD_ROWS = [
    ({"key": 1, "prompt": "Hi.", "instruction_id_list": ["punctuation:no_colon"], "kwargs": [{}]}, r"unknown instruction id 'punctuation:no_colon'"),
    ({"key": 1, "prompt": "Hi.", "instruction_id_list": ["keywords:existence"], "kwargs": [{}]}, r"keywords:existence: missing argument\(s\) keywords"),
    ({"key": 1, "prompt": "Hi.", "instruction_id_list": ["length_constraints:number_words"], "kwargs": [{"num_words": "ten", "relation": "at least"}]}, r"argument `num_words` = 'ten'; expected an integer"),
    ({"key": 1, "prompt": "Hi.", "instruction_id_list": ["keywords:existence"], "kwargs": [{"keywords": "tea"}]}, r"argument `keywords` = 'tea'; expected a non-empty list of strings"),
    ({"key": 1, "prompt": "Hi.", "instruction_id_list": ["punctuation:no_comma"], "kwargs": [{"num_words": 3}]}, r"unknown argument\(s\) num_words"),
    ({"key": 1, "prompt": "Hi.", "instruction_id_list": ["punctuation:no_comma"], "kwargs": []}, r"`kwargs` must be a list of 1 object"),
    ({"key": 1, "prompt": "Hi.", "instruction_id_list": ["length_constraints:number_words"], "kwargs": [{"num_words": 3, "relation": "about"}]}, r"number_words: The supported relation"),
]  # fmt: skip


def bad_file(tmp_path: Path, bad: dict) -> str:
    good = {"key": 0, "prompt": "Say hello.", "instruction_id_list": ["punctuation:no_comma"], "kwargs": [{}]}
    path = tmp_path / "v.jsonl"
    path.write_text(json.dumps(good) + "\n" + json.dumps(bad) + "\n")
    return str(path)


@pytest.mark.parametrize(("bad", "message"), BAD_ROWS, ids=[m[:24] for _, m in BAD_ROWS])
@pytest.mark.parametrize("key", ["prompts.pool", "eval.ifeval"])
def test_a_bad_verifiable_row_stops_the_run_before_any_work(tmp_path, capsys, bad, message, key):
    import re

    run_dir = tmp_path / "run"
    assert main(["run", "recipe=smoke", f"run_dir={run_dir}", f"{key}={bad_file(tmp_path, bad)}"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and re.match(rf"error: .*v\.jsonl:2: .*{message}", err), err
    assert not run_dir.exists()


def test_srlm_eval_refuses_a_bad_ifeval_file_before_loading_the_model(tmp_path, capsys):
    bad, message = BAD_ROWS[0]
    assert main(["eval", "tiny-random", "--ifeval", bad_file(tmp_path, bad), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "v.jsonl:2: unknown instruction id" in err
    assert not (tmp_path / "o").exists()


# ----------------------------------------------------------------------------------------- srlm eval --ifeval


@pytest.mark.slow
def test_srlm_eval_ifeval_in_googles_schema_killed_and_resumed(tmp_path):
    from srlm.evaluation.ifeval import FIGURES

    rows = read_jsonl(SETS["dev"])[:8]
    source = tmp_path / "input_data.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "srlm", "eval", "tiny-random", "--ifeval", str(source), "--out", str(out),
           "recipe=smoke", "generation.backend=hf"]  # fmt: skip
    env = {**os.environ, "SRLM_KILL_AT": "eval_ifeval_responses.jsonl:1"}
    killed = subprocess.run(cmd, env=env, capture_output=True, text=True)
    assert killed.returncode == -9, killed.stderr[-2000:]
    partial = (out / "eval_ifeval_responses.jsonl.partial").read_text().splitlines()
    assert 0 < len(partial) < len(rows)
    env.pop("SRLM_KILL_AT")
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    final = (out / "eval_ifeval_responses.jsonl").read_text().splitlines()
    assert set(partial) <= set(final) and len(final) == len(rows)  # the rows written before the kill are kept
    scores = read_json(out / "eval.json")["ifeval"]
    assert scores["prompts"] == len(rows) and all(len(scores["intervals"][name]) == 2 for name in FIGURES)
    results = read_jsonl(out / "ifeval_results.jsonl")
    assert [r["key"] for r in results] == [str(r["key"]) for r in rows]
    assert "IFEval prompt strict accuracy" in done.stdout


# ----------------------------------------------------------------------------------------- verifiable seed data


def test_eft_verdicts_from_the_verifier_and_passing_answers_as_ift(tmp_path):
    from srlm.rewarding.verdicts import parse_score

    always = {
        "key": 1,
        "prompt": "Name a fruit.",
        "instruction_id_list": ["keywords:forbidden_words"],
        "kwargs": [{"forbidden_words": ["zebra"]}],
    }
    never = {
        "key": 2,
        "prompt": "Name a tree.",
        "instruction_id_list": ["keywords:existence"],
        "kwargs": [{"keywords": ["zebra"]}],
    }
    source = tmp_path / "seed.jsonl"
    source.write_text(json.dumps(always) + "\n" + json.dumps(never) + "\n")
    run_dir = tmp_path / "run"
    args = ["run", "recipe=smoke", f"run_dir={run_dir}", "num_iterations=0", "eval.enabled=false",
            f"eft.verifiable={source}", "eft.verifiable_samples=2", "eft.drop_score_fraction=0"]  # fmt: skip
    assert main(args) == 0
    it0 = RunPaths(run_dir).iteration(0)
    verified = [e for e in read_jsonl(it0.eft_train) if e["source"] == "verifier"]
    assert (
        sorted((e["prompt"], e["score"]) for e in verified) == [("Name a fruit.", 5)] * 2 + [("Name a tree.", 0)] * 2
    )
    for e in verified:
        verdict = e["messages"][1]["content"]
        assert parse_score(verdict) == e["score"]
        assert ("Missed: " in verdict) == (e["score"] == 0) and "zebra" in verdict  # the registry's own words
    ift_prompts = [r["messages"][0]["content"] for r in read_jsonl(it0.ift)]
    assert ift_prompts.count("Name a fruit.") == 1 and "Name a tree." not in ift_prompts
