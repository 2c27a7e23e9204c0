"""Evaluation tasks on an engine, shared by the eval stage and `srlm eval`: answers, win rates, judge scores,
RewardBench (v1 pairs and v2 best-of-n) as a generative judge and by log-probabilities.

Every task keeps its rows in `<dir>/eval_<name>.jsonl` as they are computed (resumable, sharded over
ranks) and derives its sampling seeds from `EvalRows.seed` and the task's name.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from srlm.core.seeds import derive_seed
from srlm.data.prompt_sets import report_too_long, too_long
from srlm.evaluation import metrics
from srlm.evaluation.length_control import length_controlled_win_rate
from srlm.inference.batches import RowPass, items_per_call, run_rows
from srlm.models.loading import load_tokenizer
from srlm.rewarding.scoring import mean_scores


@dataclass(frozen=True)
class EvalRows:
    """Where an evaluation keeps its rows, and the seed its sampling derives from."""

    dir: Path
    seed: int


def within_prompt_limit(cfg, prompts: list[dict], model: str, name: str) -> tuple[list[dict], int]:
    """The prompts within `data.max_prompt_tokens` of `model`'s tokenizer, and how many were left out."""
    tokenizer = load_tokenizer(model)
    kept = [p for p in prompts if not too_long(p["prompt"], tokenizer, cfg.data.max_prompt_tokens)]
    report_too_long(name, len(prompts) - len(kept), cfg.data.max_prompt_tokens)
    return kept, len(prompts) - len(kept)


def batched(cfg, rows: EvalRows, name: str, items, process, rows_per_item: int = 1, key=None) -> list[dict]:
    """Rows of `process(batch, seeds)` over items, kept in `eval_<name>.jsonl` (resumable, sharded over ranks)."""
    task = RowPass(
        items,
        process,
        seed=derive_seed(rows.seed, name),
        item_key=key or (lambda it: it["id"]),
        length=lambda it: len(str(it.get("prompt", ""))),
        row_id=lambda r: r["row_id"],
        row_item=lambda r: r["item"],
        rows_per_item=rows_per_item,
        desc=f"eval {name}",
    )
    batch_size = items_per_call(cfg.eval.backend, cfg.judge.batch_size, cfg.generation.chunk_size)
    return run_rows(rows.dir / f"eval_{name}.jsonl", [task], batch_size)


def responses(cfg, rows: EvalRows, engine, prompts: list[dict], name: str = "responses") -> list[dict]:
    """The engine's model answers each prompt (`prompt_id`, `prompt`) once, sampled as generation samples."""

    def process(batch, seeds):
        outs = engine.sample(
            [engine.chat(p["prompt"]) for p in batch],
            1,
            cfg.eval.max_new_tokens,
            cfg.generation.temperature,
            cfg.generation.top_p,
            seeds,
        )
        return [
            {
                "row_id": p["prompt_id"],
                "item": p["prompt_id"],
                "prompt_id": p["prompt_id"],
                "prompt": p["prompt"],
                "text": o[0]["text"],
                "tokens": o[0]["completion_tokens"],
                "finish_reason": o[0]["finish_reason"],
            }
            for p, o in zip(batch, outs)
        ]

    return batched(cfg, rows, name, prompts, process, key=lambda p: p["prompt_id"])


def response_lengths(answers: list[dict]) -> dict:
    """Mean and median tokens of the answers, and the share cut at `eval.max_new_tokens` (finish `length`)."""
    finished = [r["finish_reason"] for r in answers if "finish_reason" in r]
    truncated = sum(f == "length" for f in finished) / len(finished) if finished else None
    return {**metrics.length_stats([r["tokens"] for r in answers]), "truncated": truncated}


def win_rate_against(cfg, rows: EvalRows, name: str, ours: list[dict], theirs: list[dict], evaluator) -> dict:
    """Our answers against theirs on the same prompts, each pair judged in both orders by `evaluator`."""
    by_id = {r["prompt_id"]: r for r in theirs}
    items = []
    for r in ours:
        other = by_id.get(r["prompt_id"])
        if other is None:
            continue
        for order, a, b in (("ab", r["text"], other["text"]), ("ba", other["text"], r["text"])):
            items.append(
                {"id": f"{name}|{r['prompt_id']}|{order}", "prompt": r["prompt"], "response_a": a, "response_b": b}
            )

    def process(batch, seeds):
        return [{"row_id": v["id"], "item": v["id"], **v} for v in evaluator.pairwise(batch)]

    verdicts = batched(cfg, rows, name, items, process)
    judged = [
        {
            "pair_id": r["id"].rsplit("|", 1)[0],
            "order": r["id"].rsplit("|", 1)[1],
            "winner": r["verdict"],
            "p_a": r.get("p_a"),
            "p_b": r.get("p_b"),
        }
        for r in verdicts
    ]
    return {
        **metrics.win_rate(judged, seed=rows.seed),
        "prob_win_rate": metrics.prob_win_rate(judged),
        "prob_win_rate_interval": metrics.prob_win_rate_interval(judged, seed=rows.seed),
        "length_controlled": length_controlled(judged, ours, by_id, rows.seed),
    }


LC_RESAMPLES = 200  # each resample refits AlpacaEval's GLM (~60 ms)


def length_controlled(judged: list[dict], ours: list[dict], theirs: dict, seed: int) -> dict:
    """AlpacaEval 2's length-controlled win rate of our answers (lengths in characters, as AlpacaEval counts)."""
    scores = metrics.pair_scores(judged)
    name = judged[0]["pair_id"].split("|", 1)[0] if judged else ""
    pairs = [
        {"pair_id": f"{name}|{r['prompt_id']}", "score": scores[f"{name}|{r['prompt_id']}"], "model_text": r["text"],
         "other_text": theirs[r["prompt_id"]]["text"]}
        for r in ours
        if f"{name}|{r['prompt_id']}" in scores
    ]  # fmt: skip
    return length_controlled_win_rate(pairs, seed=seed, resamples=LC_RESAMPLES)


def pointwise_scores(cfg, rows: EvalRows, evaluator, name: str, items: list[dict]) -> dict[str, float | None]:
    """Mean judge score per item (`id`, `prompt`, `response`); None where no verdict parsed."""
    scored = batched(
        cfg,
        rows,
        name,
        items,
        lambda b, seeds: [
            {"row_id": f"{r['id']}|{r['sample']}", "item": r["id"], **r} for r in evaluator.pointwise(b, seeds)
        ],
        evaluator.samples,
    )
    return mean_scores(scored, evaluator.mode)


def summarize(judged: list[dict], seed: int = 0) -> dict:
    """Per-subset accuracy, RewardBench sections and the weighted overall score of judged pairs, with 95%
    intervals (bootstrap over pairs within their subset)."""
    scores = metrics.section_scores_with_intervals(judged, seed=seed)
    subsets = scores.pop("subsets")
    return {
        "subsets": {k: v["accuracy"] for k, v in subsets.items()},
        "subset_sizes": {k: v["n"] for k, v in subsets.items()},
        **scores,
    }


def rewardbench(cfg, rows: EvalRows, evaluator, pairs: list[dict]) -> dict:
    """Accuracy of the evaluator's model as a generative judge on RewardBench pairs, pointwise and pairwise."""
    items = [
        {"id": f"{p['id']}|{side}", "prompt": p["prompt"], "response": p[side]}
        for p in pairs
        for side in ("chosen", "rejected")
    ]
    scores = pointwise_scores(cfg, rows, evaluator, "rewardbench", items)
    judged = [
        {
            "subset": p["subset"],
            "correct": metrics.pair_outcome(scores.get(f"{p['id']}|chosen"), scores.get(f"{p['id']}|rejected")),
        }
        for p in pairs
    ]
    return {
        "generative": summarize(judged, rows.seed),
        "pairwise": rewardbench_pairwise(cfg, rows, evaluator, pairs),
        "pairs": len(pairs),
    }


def rewardbench_pairwise(cfg, rows: EvalRows, evaluator, pairs: list[dict]) -> dict:
    """Both responses in one prompt, judged in both orders; a pair counts 1, 0.5 or 0 by the orders it wins."""
    items = [
        {"id": f"{p['id']}|{order}", "prompt": p["prompt"], "response_a": a, "response_b": b}
        for p in pairs
        for order, a, b in (("ab", p["chosen"], p["rejected"]), ("ba", p["rejected"], p["chosen"]))
    ]
    judged_rows = batched(
        cfg,
        rows,
        "rewardbench_pairwise",
        items,
        lambda b, seeds: [{"row_id": v["id"], "item": v["id"], **v} for v in evaluator.pairwise(b)],
    )
    verdicts = {r["id"]: r["verdict"] for r in judged_rows}
    judged = [
        {
            "subset": p["subset"],
            "correct": ((verdicts.get(f"{p['id']}|ab") == "A") + (verdicts.get(f"{p['id']}|ba") == "B")) / 2,
        }
        for p in pairs
    ]
    return summarize(judged, rows.seed)


def pair_logprobs(cfg, rows: EvalRows, engine, pairs: list[dict], name: str) -> dict[str, tuple[float, int]]:
    """log pi(response | prompt) and token count of every chosen and rejected response."""
    items = [
        {"id": f"{p['id']}|{side}", "prompt": p["prompt"], "response": p[side]}
        for p in pairs
        for side in ("chosen", "rejected")
    ]
    return logprobs(cfg, rows, engine, items, name)


def dpo_sequences(tokenizer, items: list[dict], max_length: int | None) -> list[tuple[list[int], int]]:
    """Each item's token ids and where its reply starts, as TRL's DPOTrainer builds a conversational pair.

    The chat template renders the user turn with the reply (its end of turn included); the reply starts where the
    prompt rendered alone (with the generation prompt) stops being a prefix, the earliest over every reply to that
    prompt (TRL takes the earlier of chosen and rejected); the ids are cut at `max_length` (DPO's `keep_start`).
    """
    from trl.data_utils import common_prefix_length

    def render(messages: list[dict], **kwargs) -> list[int]:
        return tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True, **kwargs)["input_ids"]

    prompt_ids: dict[str, list[int]] = {}
    starts: dict[str, int] = {}
    full = []
    for it in items:
        user = [{"role": "user", "content": it["prompt"]}]
        if it["prompt"] not in prompt_ids:
            prompt_ids[it["prompt"]] = render(user, add_generation_prompt=True)
        ids = render(user + [{"role": "assistant", "content": it["response"]}])
        start = common_prefix_length(prompt_ids[it["prompt"]], ids)
        starts[it["prompt"]] = min(starts.get(it["prompt"], start), start)
        full.append(ids[:max_length] if max_length else ids)
    return [(ids, starts[it["prompt"]]) for it, ids in zip(items, full)]


def logprobs(cfg, rows: EvalRows, engine, items: list[dict], name: str) -> dict[str, tuple[float, int]]:
    """log pi(response | prompt) and token count of each item (`id`, `prompt`, `response`), on exactly the tokens
    DPO trains on (`dpo_sequences`, cut at `dpo.max_length`): the reply with its end of turn."""
    sequences = dpo_sequences(engine.tokenizer, items, cfg.dpo.max_length)
    items = [{**it, "ids": ids, "start": start} for it, (ids, start) in zip(items, sequences)]

    def process(batch, seeds):
        scored = engine.sequence_logprobs([it["ids"] for it in batch], [it["start"] for it in batch])
        return [{"row_id": it["id"], "item": it["id"], "logp": lp, "tokens": n} for it, (lp, n) in zip(batch, scored)]

    return {r["item"]: (r["logp"], r["tokens"]) for r in batched(cfg, rows, name, items, process)}


def reference_free(pairs: list[dict], policy: dict, seed: int = 0) -> dict:
    """Accuracy of the mean token log-prob of the policy (no reference model)."""
    judged = []
    for p in pairs:
        (pc, nc), (pr, nr) = policy[f"{p['id']}|chosen"], policy[f"{p['id']}|rejected"]
        judged.append({"subset": p["subset"], "correct": metrics.pair_outcome(pc / max(nc, 1), pr / max(nr, 1))})
    return summarize(judged, seed)


def implicit_reward(pairs: list[dict], policy: dict, reference: dict, beta: float, seed: int = 0) -> dict:
    """Accuracy of DPO's implicit reward beta * (log pi - log pi_ref)."""
    judged = []
    for p in pairs:
        c, r = f"{p['id']}|chosen", f"{p['id']}|rejected"
        chosen, rejected = beta * (policy[c][0] - reference[c][0]), beta * (policy[r][0] - reference[r][0])
        judged.append({"subset": p["subset"], "correct": metrics.pair_outcome(chosen, rejected)})
    return summarize(judged, seed)


def completions(rows: list[dict]) -> list[dict]:
    """Every completion of RewardBench 2 rows as an item `<row id>|<chosen|rejected>|<k>`."""
    return [
        {"id": f"{r['id']}|{side}|{k}", "prompt": r["prompt"], "response": text}
        for r in rows
        for side in ("chosen", "rejected")
        for k, text in enumerate(r[side])
    ]


def best_of_n_judged(rows: list[dict], score) -> list[dict]:
    """Judged RewardBench 2 rows from `score(item id) -> float | None`: the first chosen completion against every
    other one (RewardBench 2's row score), and for Ties rows the scores its own metric reads."""
    judged = []
    for r in rows:
        chosen = [score(f"{r['id']}|chosen|{k}") for k in range(len(r["chosen"]))]
        rejected = [score(f"{r['id']}|rejected|{k}") for k in range(len(r["rejected"]))]
        row = {
            "subset": r["subset"],
            "correct": metrics.best_of_n_outcome(chosen[0], chosen[1:] + rejected),
            "num_rejected": len(r["rejected"]),
        }
        if r["subset"] == metrics.TIES:
            kind, prompt = r["id"].split(":")
            row["ties"] = {"kind": kind, "prompt": prompt, "correct": chosen, "incorrect": rejected}
        judged.append(row)
    return judged


def rewardbench2(cfg, rows: EvalRows, evaluator, best_of_n: list[dict]) -> dict:
    """RewardBench 2 accuracy of the evaluator's model as a generative judge (every completion scored)."""
    scores = pointwise_scores(cfg, rows, evaluator, "rewardbench2", completions(best_of_n))
    return metrics.rewardbench2_scores(best_of_n_judged(best_of_n, scores.get), seed=rows.seed)


def rewardbench2_logprobs(cfg, rows: EvalRows, engine, best_of_n: list[dict], name: str) -> dict:
    """log pi and token count of every RewardBench 2 completion under the engine's model."""
    return logprobs(cfg, rows, engine, completions(best_of_n), name)
