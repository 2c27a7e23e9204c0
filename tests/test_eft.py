"""The EFT builder's pieces: the agreement filter, the thinning of the most common score, the held-out split."""

import random

import pytest

from srlm.config.compose import compose
from srlm.core.io import read_jsonl
from srlm.data.seed import split_prompts
from srlm.rewarding.verdicts import parse_score
from srlm.stages.eft import agreeing_examples, rank_score, rebalance, verdicts_for

TEMPLATE = "Q: {prompt}\nA: {response}"


def prompt(pid: str, n: int) -> dict:
    """A ranked prompt with `n` replies, best (rank 0) first, as `ranked_responses` gives them."""
    replies = [{"message_id": f"{pid}-r{k}", "text": f"reply {k} to {pid}", "rank": k} for k in range(n)]
    return {"prompt_id": pid, "prompt": f"question {pid}", "replies": replies}


def scored(*scores) -> list[tuple[str, int | None]]:
    """Verdict texts with their parsed scores (None: unparsed), in the order they were written."""
    return [(f"verdict {s}" if s is not None else "no score here", s) for s in scores]


# ---------------------------------------------------------------------------------------- agreeing_examples


def test_prompt_whose_scores_strictly_decrease_with_rank_is_kept_as_chat_examples():
    p = prompt("p", 3)
    verdicts = {"p-r0": scored(5), "p-r1": scored(3), "p-r2": scored(0)}
    examples, counts = agreeing_examples([p], verdicts, TEMPLATE)
    assert counts == {"prompts_kept": 1}
    assert [(e["prompt_id"], e["message_id"], e["score"]) for e in examples] == [
        ("p", "p-r0", 5),
        ("p", "p-r1", 3),
        ("p", "p-r2", 0),
    ]
    assert examples[1]["messages"] == [
        {"role": "user", "content": "Q: question p\nA: reply 1 to p"},
        {"role": "assistant", "content": "verdict 3"},
    ]


@pytest.mark.parametrize(
    "scores",
    [(4, 4), (2, 4), (5, 1, 3), (5, 3, 3)],
    ids=["tie", "reversed", "last-two-swapped", "tie-below-the-best"],
)
def test_prompt_not_strictly_decreasing_is_dropped_as_disagreeing(scores):
    p = prompt("p", len(scores))
    verdicts = {f"p-r{k}": scored(s) for k, s in enumerate(scores)}
    examples, counts = agreeing_examples([p], verdicts, TEMPLATE)
    assert examples == []
    assert counts == {"dropped_disagree": 1}


def test_prompt_with_a_reply_without_parsed_verdict_is_dropped_as_unparsed():
    # p1: the worst reply's only verdict did not parse; p2: a reply has no verdict at all; p3 agrees.
    train = [prompt("p1", 2), prompt("p2", 2), prompt("p3", 2)]
    verdicts = {
        "p1-r0": scored(5),
        "p1-r1": scored(None),
        "p2-r1": scored(1),
        "p3-r0": scored(4),
        "p3-r1": scored(2),
    }
    examples, counts = agreeing_examples(train, verdicts, TEMPLATE)
    assert counts == {"dropped_unparsed": 2, "prompts_kept": 1}
    assert {e["prompt_id"] for e in examples} == {"p3"}


def test_the_first_parsed_of_several_verdicts_is_used():
    # r0's verdicts: unparsed, then 4, then 2. With the first parsed one (4) the prompt agrees (4 > 3);
    # with the last (2) or with the unparsed one it would not be kept.
    p = prompt("p", 2)
    verdicts = {"p-r0": scored(None, 4, 2), "p-r1": scored(3, 5)}
    examples, counts = agreeing_examples([p], verdicts, TEMPLATE)
    assert counts == {"prompts_kept": 1}
    assert [(e["score"], e["messages"][1]["content"]) for e in examples] == [(4, "verdict 4"), (3, "verdict 3")]


def test_counts_cover_every_prompt_and_examples_keep_the_input_order():
    train = [prompt("a", 2), prompt("b", 3), prompt("c", 2), prompt("d", 2)]
    verdicts = {
        "a-r0": scored(5),
        "a-r1": scored(1),
        "b-r0": scored(5),
        "b-r1": scored(4),
        "b-r2": scored(4),
        "c-r0": scored(None),
        "c-r1": scored(2),
        "d-r0": scored(3),
        "d-r1": scored(0),
    }
    examples, counts = agreeing_examples(train, verdicts, TEMPLATE)
    assert counts == {"prompts_kept": 2, "dropped_disagree": 1, "dropped_unparsed": 1}
    assert [e["message_id"] for e in examples] == ["a-r0", "a-r1", "d-r0", "d-r1"]


def test_human_rank_verdicts_parse_to_their_score_and_pass_the_filter():
    """With `verdict_source=human_rank` every prompt of 2 to 5 replies becomes judge examples."""
    cfg = compose(["recipe=smoke", "eft.verdict_source=human_rank"])
    train = [prompt(f"p{n}", n) for n in (2, 3, 4, 5)]
    verdicts = verdicts_for(cfg, None, train, TEMPLATE)
    for p in train:
        for r in p["replies"]:
            [(text, score)] = verdicts[r["message_id"]]
            assert parse_score(text) == score == rank_score(r["rank"], len(p["replies"]))
    examples, counts = agreeing_examples(train, verdicts, TEMPLATE)
    assert counts == {"prompts_kept": 4}
    assert len(examples) == 2 + 3 + 4 + 5


# ------------------------------------------------------------------------------------------------ rank_score


@pytest.mark.parametrize(
    "n,expected",
    [
        (2, [5, 1]),
        (3, [5, 3, 1]),
        (4, [5, 4, 2, 1]),  # 5, 3.67, 2.33, 1 rounded
        (5, [5, 4, 3, 2, 1]),
    ],
)
def test_rank_score_spaces_the_replies_evenly_from_5_down_to_1(n, expected):
    assert [rank_score(rank, n) for rank in range(n)] == expected


def test_rank_score_of_a_lone_reply_is_5_and_a_rank_past_the_last_is_0_not_negative():
    assert rank_score(0, 1) == 5
    # ranks keep their gaps when a reply is deleted: ranks 0 and 2 of 2 kept replies
    assert rank_score(2, 2) == 0


# ------------------------------------------------------------------------------------------------- rebalance


def examples_with(**per_score: int) -> list[dict]:
    """`n` examples per score, `s5=3` meaning three of score 5, interleaved as real data would be."""
    out = []
    for name, n in per_score.items():
        out += [{"score": int(name[1:]), "i": i} for i in range(n)]
    random.Random(0).shuffle(out)
    return out


def test_rebalance_drops_the_fraction_of_the_most_common_score_only():
    examples = examples_with(s4=8, s5=3, s2=2)
    kept, dropped = rebalance(examples, 0.5, seed=1)
    assert dropped == 4
    assert sorted(e["score"] for e in kept) == [2, 2, 4, 4, 4, 4, 5, 5, 5]
    assert all(any(k is e for e in examples) for k in kept)  # the examples themselves, not copies
    assert [examples.index(k) for k in kept] == sorted(examples.index(k) for k in kept)  # input order kept


def test_rebalance_is_seeded():
    examples = examples_with(s4=10, s1=3)

    def dropped_ids(seed):
        kept, _ = rebalance(examples, 0.5, seed)
        return sorted(e["i"] for e in examples if e["score"] == 4 and not any(k is e for k in kept))

    assert len({tuple(dropped_ids(seed)) for seed in range(6)}) > 1


def test_rebalance_with_two_equally_common_scores_thins_one_of_them():
    kept, dropped = rebalance(examples_with(s5=4, s1=4), 0.5, seed=0)
    assert dropped == 2
    assert sorted(sum(e["score"] == s for e in kept) for s in (5, 1)) == [2, 4]


def test_rebalance_fraction_bounds():
    examples = examples_with(s3=5, s0=1)
    assert rebalance(examples, 0.0, seed=0) == (examples, 0)
    kept, dropped = rebalance(examples, 1.0, seed=0)
    assert (dropped, [e["score"] for e in kept]) == (5, [0])
    assert rebalance(examples, 0.5, seed=0)[1] == 2  # half of 5, rounded down
    assert rebalance([], 0.5, seed=0) == ([], 0)


# ---------------------------------------------------------------------------------------------- split_prompts


def ranked(n: int) -> list[dict]:
    return [{"prompt_id": f"p{i:02d}", "replies": []} for i in range(n)]


@pytest.mark.parametrize("n,fraction,n_eval", [(10, 0.3, 3), (8, 0.25, 2), (4, 0.0, 0), (4, 1.0, 4)])
def test_split_is_disjoint_complete_and_sized_by_the_fraction(n, fraction, n_eval):
    train, held_out = split_prompts(ranked(n), fraction, seed=3)
    ids_train, ids_eval = [p["prompt_id"] for p in train], [p["prompt_id"] for p in held_out]
    assert len(ids_eval) == n_eval
    assert not set(ids_train) & set(ids_eval)
    assert sorted(ids_train + ids_eval) == [f"p{i:02d}" for i in range(n)]


def test_split_depends_on_the_seed_not_on_the_input_order():
    prompts = ranked(12)
    shuffled = prompts[::-1]
    assert split_prompts(prompts, 0.25, seed=5) == split_prompts(shuffled, 0.25, seed=5)
    held_out = {seed: tuple(p["prompt_id"] for p in split_prompts(prompts, 0.25, seed)[1]) for seed in range(6)}
    assert len(set(held_out.values())) > 1


# ---------------------------------------------------------------------------------------- the stage on a model


@pytest.fixture(scope="module")
def model_verdict_run(tmp_path_factory):
    """The EFT stage with verdicts sampled by the tiny model, three judge samples configured, IFT size above supply."""
    import contextlib
    import io

    from conftest import oasst_rows, write_jsonl

    from srlm.core.paths import RunPaths
    from srlm.stages import eft

    tmp = tmp_path_factory.mktemp("eft_model")
    oasst = write_jsonl(tmp / "oasst.jsonl", oasst_rows())
    cfg = compose(
        ["recipe=smoke", f"run_dir={tmp / 'run'}", f"data.oasst={oasst}", "data.ift_size=50", "eft.eval_fraction=0",
         "eft.verdict_source=model", "judge.mode=sampled", "judge.num_samples=3"]
    )  # fmt: skip
    paths = RunPaths(tmp / "run").iteration(0)
    paths.dir.mkdir(parents=True)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        stats = eft.run(cfg, paths)
    return paths, stats, out.getvalue()


def test_eft_samples_one_verdict_per_reply_whatever_the_loop_judge_samples(model_verdict_run):
    paths, _, _ = model_verdict_run
    rows = read_jsonl(paths.eft_judgments)
    replies = {r["id"] for r in rows}
    assert replies and len(rows) == len(replies)


def test_fewer_ift_examples_than_asked_is_one_line_and_a_metric(model_verdict_run):
    _, stats, printed = model_verdict_run
    assert 0 < stats["ift"] < 50
    assert stats["ift_shortfall"] == 50 - stats["ift"]
    assert f"IFT examples (data.ift_size): {stats['ift']} of the 50 asked" in printed
