"""Meta-Rewarding end to end on the smoke recipe: the meta-judge stage, judge pairs in the DPO data, the judge's
per-iteration figures, and a SIGKILL during the meta-judge stage resumed to the same rows."""

import json
import signal

import conftest
import pytest

from srlm.config.compose import compose
from srlm.core.io import read_jsonl
from srlm.reporting.report import make_report
from srlm.rewarding.meta_judge import judgment_id
from srlm.rewarding.templates import fill, load_template

ARGS = conftest.META_SMOKE


@pytest.fixture
def meta_run(finished_meta_run):
    return finished_meta_run


def rows(run_dir, t, name):
    return read_jsonl(run_dir / f"iteration_{t}" / name)


@pytest.mark.slow
def test_judge_pairs_join_the_actor_pairs_and_trace_back_to_their_judgments(meta_run):
    cfg = compose(["recipe=smoke", "meta.enabled=true"])
    template = load_template(cfg.judge.template)
    manifest = json.loads((meta_run / "manifest.json").read_text())
    for t in (1, 2):
        candidates = {c["candidate_id"]: c for c in rows(meta_run, t, "candidates.jsonl")}
        judgments = {judgment_id(j["candidate_id"], j["sample"]): j for j in rows(meta_run, t, "judgments.jsonl")}
        pairs = rows(meta_run, t, "pairs.jsonl")
        judge = [p for p in pairs if p["kind"] == "judge"]
        actor = [p for p in pairs if p["kind"] == "actor"]
        assert judge and actor
        assert len(judge) / len(pairs) <= cfg.meta.max_judge_share
        for p in judge:
            candidate = candidates[p["candidate_id"]]
            assert p["prompt"] == fill(template, prompt=candidate["prompt"], response=candidate["text"])
            assert p["chosen_id"] != p["rejected_id"]
            for side in ("chosen", "rejected"):
                judgment = judgments[p[f"{side}_id"]]
                assert judgment["candidate_id"] == p["candidate_id"]
                assert (p[side], p[f"{side}_score"]) == (judgment["raw"], judgment["score"])
            assert p["chosen_rating"] > p["rejected_rating"]
        compared = rows(meta_run, t, "meta_judgments.jsonl")
        assert {(c["a"], c["b"]) for c in compared} == {(c["b"], c["a"]) for c in compared}  # both orders
        dpo = manifest["iterations"][str(t)]["dpo"]["metrics"]
        assert (dpo["actor_pairs"], dpo["judge_pairs"]) == (len(actor), len(judge))  # no pair held out at this size


@pytest.mark.slow
def test_the_judge_figures_of_each_iteration_are_in_eval_json_and_the_report(meta_run, tmp_path):
    for t in (1, 2):
        result = json.loads((meta_run / f"iteration_{t}" / "eval.json").read_text())
        meta = result["meta_judge"]
        assert meta["comparisons"] == len(rows(meta_run, t, "meta_judgments.jsonl"))
        low, high = meta["position_a_rate_interval"]
        assert low <= meta["position_a_rate"] <= high
        scores = result["judge_human"]["scores"]
        assert scores["scored"] > 0 and len(scores["top_score_share_interval"]) == 2
    titles = make_report(meta_run, tmp_path / "report").titles
    assert "Judge saturation" in titles and "Meta-judge position bias" in titles


@pytest.mark.slow
def test_a_kill_during_the_meta_judge_stage_resumes_to_the_same_rows(meta_run, tmp_path):
    run_dir = tmp_path / "killed"
    killed = conftest.srlm_run(ARGS, run_dir, kill_at="meta_judgments.jsonl:5:torn")
    assert killed.returncode == -signal.SIGKILL
    partial = run_dir / "iteration_1" / "meta_judgments.jsonl.partial"
    assert partial.exists() and not (run_dir / "iteration_1" / "pairs.jsonl").exists()
    resumed = conftest.srlm_run(ARGS, run_dir)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    for t in (1, 2):
        for name in ("meta_judgments.jsonl", "pairs.jsonl"):
            assert rows(run_dir, t, name) == rows(meta_run, t, name)
