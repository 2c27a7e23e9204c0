"""The paper's judge path end to end: 3 sampled verdicts per candidate, parsed and averaged; max vs min pairs.

A random model writes no `Score: N`, so here the run's own seed stages teach the tiny model the verdict format:
the EFT builder takes written verdicts for a small synthetic ranked set (`Score: 5` for the best reply, `Score: 1`
for the second, and for the worst a justification longer than `judge.max_new_tokens` before `Score: 0`), and
the seed SFT trains on them for 50 steps. The model then writes a mix: verdicts that parse, verdicts cut off or
garbled before any score, candidates none of whose verdicts parse, and prompts whose candidates tie. Iteration 1
runs the real prompts, generate, judge (`judge.mode=sampled`, `num_samples=3`) and pairs stages on it.
(The `human_rank` verdicts, a sentence of about 100 characters before the score, take the byte-level tiny model
far more steps to learn.)
"""

import json
import statistics
from collections import defaultdict

import pytest
from conftest import message, smoke_overrides, write_jsonl

from srlm.config.compose import compose
from srlm.core.io import read_jsonl
from srlm.pipeline.driver import run
from srlm.pipeline.manifest import Manifest

SAMPLES = 3
CANDIDATES = 3
VERDICTS = ("Score: 5", "Score: 1", "The reply is poor and misses the point.\nScore: 0")  # by human rank
THINGS = ("an egg", "rice", "tea", "a cake", "pasta", "soup", "bread", "coffee", "a stew", "beans", "a pie", "oats")
VERBS = ("cook", "boil", "store", "warm", "serve", "make")


def synthetic_set(root) -> list[str]:
    """Ranked prompts with written verdicts, a prompt pool and a short judge template; their overrides."""
    messages, verdicts = [], []
    for i, (verb, thing) in enumerate((v, t) for v in VERBS for t in THINGS):
        pid = f"q{i}"
        messages.append(message(pid, None, "prompter", f"How do I {verb} {thing}?"))
        replies = (f"{verb.capitalize()} {thing} slowly, then wait.", f"Just {verb} it.", "No idea.")
        for rank, (text, verdict) in enumerate(zip(replies, VERDICTS)):
            messages.append(message(f"{pid}r{rank}", pid, "assistant", text, rank=rank, tree=pid))
            verdicts.append({"message_id": f"{pid}r{rank}", "verdict": verdict})
    pool = [{"prompt": f"Tell me a fact about {THINGS[k % len(THINGS)]} number {k}."} for k in range(40)]
    template = root / "judge.txt"
    template.write_text("Rate the reply.\n{prompt}\n{response}\n")
    return [
        f"data.oasst={write_jsonl(root / 'oasst.jsonl', messages)}",
        f"data.verdicts={write_jsonl(root / 'verdicts.jsonl', verdicts)}",
        f"prompts.pool={write_jsonl(root / 'pool.jsonl', pool)}",
        f"judge.template={template}",
    ]


@pytest.fixture(scope="module")
def sampled_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("sampled_judge")
    overrides = [
        *synthetic_set(root),
        "num_iterations=1",
        "eval.enabled=false",
        "eft.verdict_source=written",
        "eft.max_prompts=72",
        "data.ift_size=4",
        "sft.max_steps=50",
        "sft.learning_rate=3e-3",
        "sft.lr_scheduler_type=constant",
        "sft.per_device_train_batch_size=8",
        "sft.max_length=128",
        "sft.save_steps=1000",
        "prompts.per_iteration=32",
        "generation.backend=hf",
        f"generation.num_candidates={CANDIDATES}",
        "generation.batch_size=12",
        "judge.mode=sampled",
        f"judge.num_samples={SAMPLES}",
        "judge.compare_modes=false",
        "judge.max_new_tokens=20",  # the worst reply's verdict is cut before its score
        "judge.batch_size=24",
        "dpo.max_steps=1",
    ]
    paths = run(compose(smoke_overrides(root / "run", *overrides)))
    it = paths.iteration(1)
    manifest = Manifest.load(paths.manifest)
    return {
        "candidates": read_jsonl(it.candidates),
        "rows": read_jsonl(it.judgments),
        "pairs": read_jsonl(it.pairs),
        "pairs_stats": json.loads(it.pairs_stats.read_text()),
        "judge": manifest.stage(1, "judge")["metrics"],
    }


def parsed_samples(rows: list[dict]) -> dict[str, list[int]]:
    """Candidate id -> the scores of its verdicts that parsed (empty when none did)."""
    out: dict[str, list[int]] = {}
    for r in rows:
        scores = out.setdefault(r["candidate_id"], [])
        if r["score"] is not None:
            scores.append(r["score"])
    return out


def test_three_verdicts_per_candidate_kept_with_their_raw_text_parsed_or_not(sampled_run):
    candidates, rows, judge = sampled_run["candidates"], sampled_run["rows"], sampled_run["judge"]
    by_candidate = defaultdict(list)
    for r in rows:
        by_candidate[r["candidate_id"]].append(r)
    assert sorted(by_candidate) == sorted(c["candidate_id"] for c in candidates)
    for cid, verdicts in by_candidate.items():
        assert sorted(r["sample"] for r in verdicts) == list(range(SAMPLES)), cid
        assert all(r["mode"] == "sampled" and isinstance(r["raw"], str) for r in verdicts), cid
    parsed = [r for r in rows if r["score"] is not None]
    unparsed = [r for r in rows if r["score"] is None]
    assert parsed and unparsed, "the run must have verdicts that parse and verdicts that do not"
    assert all(f"Score: {r['score']}" in r["raw"] for r in parsed)
    assert {r["score"] for r in parsed} <= {0, 1, 5}  # the scores the verdicts were taught
    assert judge["judgments"] == len(rows) == SAMPLES * len(candidates)
    assert judge["unparsed"] == len(unparsed)
    assert judge["parse_rate"] == pytest.approx(len(parsed) / len(rows))


def test_a_candidate_scores_the_mean_of_its_parsed_verdicts_and_none_without_one(sampled_run):
    samples = parsed_samples(sampled_run["rows"])
    means = {cid: statistics.fmean(s) for cid, s in samples.items() if s}
    unscored = {cid for cid, s in samples.items() if not s}
    assert unscored, "the run must have a candidate none of whose verdicts parsed"
    for p in sampled_run["pairs"]:
        assert p["chosen_score"] == pytest.approx(means[p["chosen_id"]])
        assert p["rejected_score"] == pytest.approx(means[p["rejected_id"]])
        assert not {p["chosen_id"], p["rejected_id"]} & unscored
    # the stage's mean score is over scored candidates only: an unscored one is not a 0
    assert sampled_run["judge"]["mean_score"] == pytest.approx(statistics.fmean(means.values()))


def test_pairs_are_the_highest_vs_the_lowest_scored_candidate_and_ties_give_none(sampled_run):
    samples = parsed_samples(sampled_run["rows"])
    means = {cid: statistics.fmean(s) for cid, s in samples.items() if s}
    texts = {c["candidate_id"]: c["text"] for c in sampled_run["candidates"]}
    by_prompt = defaultdict(list)
    for c in sampled_run["candidates"]:
        by_prompt[c["prompt_id"]].append(c["candidate_id"])
    pairs = {p["prompt_id"]: p for p in sampled_run["pairs"]}
    assert len(pairs) == len(sampled_run["pairs"])  # at most one pair per prompt
    tied, missing, middle_left_out = 0, 0, 0
    for prompt_id, ids in by_prompt.items():
        scores = {cid: means[cid] for cid in ids if cid in means}
        if len(scores) < 2:
            missing += 1
            assert prompt_id not in pairs
        elif max(scores.values()) == min(scores.values()):
            tied += 1
            assert prompt_id not in pairs
        else:
            p = pairs[prompt_id]
            assert p["chosen_score"] == max(scores.values()) and p["chosen_id"] in ids
            assert p["rejected_score"] == min(scores.values()) and p["rejected_id"] in ids
            assert (p["chosen"], p["rejected"]) == (texts[p["chosen_id"]], texts[p["rejected_id"]])
            middle_left_out += len(set(scores.values())) == CANDIDATES
    assert set(pairs) <= set(by_prompt)
    stats = sampled_run["pairs_stats"]
    assert (stats["pairs"], stats["dropped_ties"], stats["dropped_missing"]) == (len(pairs), tied, missing)
    assert pairs and tied, "the run must have prompts that pair and prompts whose candidates tie"
    assert middle_left_out, "the run must have a prompt with three distinct scores, the middle one left out"
