"""Eval (after the seed SFT and after every DPO): did this iteration's model get better?

Measures, for the model M this iteration produced (M_1 at iteration 0, M_{t+1} after DPO):
- win rates of M against M_t and against the seed model M_1 on held-out prompts, every pair judged
  in both orders by the evaluator (`seed` by default, so numbers compare across iterations), with
  the response lengths of each model;
- judge-human agreement of M as a judge on the held-out EFT split (ranked OASST replies);
- RewardBench-style accuracy of M as a generative judge and, after DPO, of its implicit reward.
Rows are written as they are computed (`eval_*.jsonl`), so an interrupted eval resumes.

Run by hand: `python -m srlm.stages.eval RUN_DIR ITERATION`.
"""

from __future__ import annotations

import random
from pathlib import Path

from srlm import distributed, metrics
from srlm.batches import run_batches
from srlm.config import enum_value
from srlm.engine import open_engine
from srlm.errors import SrlmError
from srlm.evaluation import Evaluator, load_preference_pairs, make_evaluator
from srlm.io import RowWriter, read_jsonl, write_json
from srlm.judge import mean_scores
from srlm.prompt_sets import normalize, training_prompts
from srlm.stages import current_model, main, stage_seed


def _batched(cfg, paths, name: str, items, process, rows_per_item: int = 1, key=lambda it: it["id"]) -> list[dict]:
    """Rows of `process(batch, seeds)` over items, kept in `eval_<name>.jsonl` (resumable, sharded over ranks)."""
    writer = RowWriter(paths.dir / f"eval_{name}.jsonl", distributed.rank(), distributed.world_size())
    try:
        run_batches(
            items,
            item_key=key,
            length=lambda it: len(str(it.get("prompt", ""))),
            batch_size=cfg.judge.batch_size,
            seed=stage_seed(cfg, paths, f"eval-{name}"),
            writer=writer,
            process=process,
            row_id=lambda r: r["row_id"],
            row_item=lambda r: r["item"],
            rows_per_item=rows_per_item,
            desc=f"eval {name} (iteration {paths.t})",
        )
    finally:
        writer.close()
    return writer.finish()


def eval_prompts(cfg, paths) -> list[dict]:
    path = Path(cfg.data.eval_prompts)
    if not path.exists():
        raise SrlmError(f"{path}: eval prompt set not found (data.eval_prompts)")
    rows = read_jsonl(path)
    n = cfg.eval.win_rate_prompts or len(rows)
    return rows[:n]


def check_no_overlap(name: str, prompts: list[str], training: set[str]) -> None:
    overlap = [p for p in prompts if normalize(p) in training]
    if overlap:
        raise SrlmError(f"{name}: {len(overlap)} prompt(s) also used for training, e.g. {overlap[0][:80]!r}")


def responses(cfg, paths, engine, prompts: list[dict]) -> list[dict]:
    """This iteration's model answers the held-out prompts (reused by later iterations' comparisons)."""

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
            }
            for p, o in zip(batch, outs)
        ]

    return _batched(cfg, paths, "responses", prompts, process, key=lambda p: p["prompt_id"])


def win_rate_against(cfg, paths, name: str, ours: list[dict], theirs: list[dict], evaluator: Evaluator) -> dict:
    by_id = {r["prompt_id"]: r for r in theirs}
    items = []
    for r in ours:
        other = by_id.get(r["prompt_id"])
        if other is None:
            continue
        items.append(
            {
                "id": f"{name}|{r['prompt_id']}|ab",
                "prompt": r["prompt"],
                "response_a": r["text"],
                "response_b": other["text"],
            }
        )
        items.append(
            {
                "id": f"{name}|{r['prompt_id']}|ba",
                "prompt": r["prompt"],
                "response_a": other["text"],
                "response_b": r["text"],
            }
        )

    def process(batch, seeds):
        return [{"row_id": v["id"], "item": v["id"], **v} for v in evaluator.pairwise(batch)]

    rows = _batched(cfg, paths, name, items, process)
    judged = [
        {
            "pair_id": r["id"].rsplit("|", 1)[0],
            "order": r["id"].rsplit("|", 1)[1],
            "winner": r["verdict"],
            "p_a": r.get("p_a"),
            "p_b": r.get("p_b"),
        }
        for r in rows
    ]
    return {**metrics.win_rate(judged), "prob_win_rate": metrics.prob_win_rate(judged)}


def pointwise_scores(cfg, paths, evaluator: Evaluator, name: str, items: list[dict]) -> dict[str, float | None]:
    """Mean judge score per item (`id`, `prompt`, `response`), rows kept in `eval_<name>.jsonl` for resume."""
    rows = _batched(
        cfg,
        paths,
        name,
        items,
        lambda b, seeds: [
            {"row_id": f"{r['id']}|{r['sample']}", "item": r["id"], **r} for r in evaluator.pointwise(b, seeds)
        ],
        evaluator.samples,
    )
    return mean_scores(rows, evaluator.mode)


def judge_agreement(cfg, paths, evaluator: Evaluator, training: set[str]) -> dict | None:
    held_out = paths.run.iteration(0).eft_eval
    prompts = read_jsonl(held_out) if held_out.exists() else []
    if not prompts:
        return None
    check_no_overlap(str(held_out), [p["prompt"] for p in prompts], training)
    items = [
        {"id": r["message_id"], "prompt": p["prompt"], "response": r["text"]} for p in prompts for r in p["replies"]
    ]
    scores = pointwise_scores(cfg, paths, evaluator, "judge_human", items)
    return metrics.judge_human_agreement(
        [
            {"replies": [{"rank": r["rank"], "score": scores.get(r["message_id"])} for r in p["replies"]]}
            for p in prompts
        ]
    )


def rewardbench_pairs(cfg, training: set[str]) -> list[dict]:
    """The preference pairs of `eval.rewardbench`, in a seeded order, at most `eval.rewardbench_max`."""
    pairs = load_preference_pairs(cfg.eval.rewardbench)
    random.Random(cfg.seed).shuffle(pairs)
    pairs = pairs[: cfg.eval.rewardbench_max or len(pairs)]
    check_no_overlap(cfg.eval.rewardbench, [p["prompt"] for p in pairs], training)
    return pairs


def rewardbench(cfg, paths, evaluator: Evaluator, pairs: list[dict]) -> dict:
    """Accuracy of the model as a generative judge, pointwise and pairwise (both orders)."""
    items = [
        {"id": f"{p['id']}|{side}", "prompt": p["prompt"], "response": p[side]}
        for p in pairs
        for side in ("chosen", "rejected")
    ]
    scores = pointwise_scores(cfg, paths, evaluator, "rewardbench", items)
    judged = [
        {
            "subset": p["subset"],
            "correct": metrics.pair_outcome(scores.get(f"{p['id']}|chosen"), scores.get(f"{p['id']}|rejected")),
        }
        for p in pairs
    ]
    return {
        "generative": summarize(judged),
        "pairwise": rewardbench_pairwise(cfg, paths, evaluator, pairs),
        "pairs": len(pairs),
    }


def rewardbench_pairwise(cfg, paths, evaluator: Evaluator, pairs: list[dict]) -> dict:
    """Both responses in one prompt, judged in both orders; a pair counts 1, 0.5 or 0 by the orders it wins."""
    items = [
        {"id": f"{p['id']}|{order}", "prompt": p["prompt"], "response_a": a, "response_b": b}
        for p in pairs
        for order, a, b in (("ab", p["chosen"], p["rejected"]), ("ba", p["rejected"], p["chosen"]))
    ]
    rows = _batched(
        cfg,
        paths,
        "rewardbench_pairwise",
        items,
        lambda b, seeds: [{"row_id": v["id"], "item": v["id"], **v} for v in evaluator.pairwise(b)],
    )
    verdicts = {r["id"]: r["verdict"] for r in rows}
    judged = [
        {
            "subset": p["subset"],
            "correct": ((verdicts.get(f"{p['id']}|ab") == "A") + (verdicts.get(f"{p['id']}|ba") == "B")) / 2,
        }
        for p in pairs
    ]
    return summarize(judged)


def summarize(judged: list[dict]) -> dict:
    subsets = metrics.subset_accuracy(judged)
    return {"subsets": {k: v["accuracy"] for k, v in subsets.items()}, **metrics.section_scores(subsets)}


def pair_logprobs(cfg, paths, engine, pairs: list[dict], name: str) -> dict[str, tuple[float, int]]:
    """log pi(response | prompt) and token count of every chosen and rejected response (`eval_<name>.jsonl`)."""
    items = [
        {"id": f"{p['id']}|{side}", "prompt": engine.chat(p["prompt"]), "response": p[side]}
        for p in pairs
        for side in ("chosen", "rejected")
    ]

    def process(batch, seeds):
        scored = engine.sequence_logprobs([it["prompt"] for it in batch], [it["response"] for it in batch])
        return [{"row_id": it["id"], "item": it["id"], "logp": lp, "tokens": n} for it, (lp, n) in zip(batch, scored)]

    rows = _batched(cfg, paths, name, items, process)
    return {r["item"]: (r["logp"], r["tokens"]) for r in rows}


def reference_free(pairs: list[dict], policy: dict) -> dict:
    """Accuracy of the mean token log-prob of the policy (no reference model)."""
    judged = []
    for p in pairs:
        (pc, nc), (pr, nr) = policy[f"{p['id']}|chosen"], policy[f"{p['id']}|rejected"]
        judged.append({"subset": p["subset"], "correct": metrics.pair_outcome(pc / max(nc, 1), pr / max(nr, 1))})
    return summarize(judged)


def implicit_reward(pairs: list[dict], policy: dict, reference: dict, beta: float) -> dict:
    """Accuracy of DPO's implicit reward beta * (log pi - log pi_ref)."""
    judged = []
    for p in pairs:
        c, r = f"{p['id']}|chosen", f"{p['id']}|rejected"
        chosen, rejected = beta * (policy[c][0] - reference[c][0]), beta * (policy[r][0] - reference[r][0])
        judged.append({"subset": p["subset"], "correct": metrics.pair_outcome(chosen, rejected)})
    return summarize(judged)


def win_rates(cfg, paths, ours: list[dict], evaluator, result: dict) -> None:
    """Win rates of this iteration's responses against M_t's and the seed model's, with their lengths."""
    previous = read_jsonl(paths.previous.dir / "eval_responses.jsonl")
    seed = read_jsonl(paths.run.iteration(0).dir / "eval_responses.jsonl")
    prev_wr = win_rate_against(cfg, paths, "vs_previous", ours, previous, evaluator)
    result["win_rate_vs_previous"] = prev_wr["win_rate"]
    result["prob_win_rate_vs_previous"] = prev_wr["prob_win_rate"]
    result["vs_previous"] = prev_wr
    result["lengths"]["previous"] = metrics.length_stats([r["tokens"] for r in previous])
    if paths.t > 1:
        seed_wr = win_rate_against(cfg, paths, "vs_seed", ours, seed, evaluator)
    else:
        seed_wr = prev_wr  # at iteration 1 the previous model is the seed model
    result["win_rate_vs_seed"] = seed_wr["win_rate"]
    result["prob_win_rate_vs_seed"] = seed_wr["prob_win_rate"]
    result["vs_seed"] = seed_wr
    result["lengths"]["seed"] = metrics.length_stats([r["tokens"] for r in seed])


def run(cfg, paths) -> dict:
    """Each model is held by one engine at a time: M (this iteration's), then M_t (reference), then the evaluator."""
    new_model = str(paths.model)
    training = training_prompts(paths.run, upto=paths.t)
    prompts = eval_prompts(cfg, paths)
    check_no_overlap(cfg.data.eval_prompts, [p["prompt"] for p in prompts], training)
    pairs = rewardbench_pairs(cfg, training) if cfg.eval.rewardbench else []
    mode = enum_value(cfg.eval.judge_mode)
    result: dict = {"iteration": paths.t, "model": new_model}
    with open_engine(cfg, new_model, cfg.eval.backend) as engine:
        ours = responses(cfg, paths, engine, prompts)
        result["lengths"] = {"model": metrics.length_stats([r["tokens"] for r in ours])}
        self_judge = Evaluator(engine, cfg, mode)
        agreement = judge_agreement(cfg, paths, self_judge, training)
        if agreement:
            result["judge_human"] = agreement
            result["judge_accuracy"] = agreement.get("pairwise_accuracy")
        if pairs:
            result["rewardbench"] = rewardbench(cfg, paths, self_judge, pairs)
            policy = pair_logprobs(cfg, paths, engine, pairs, "rewardbench_logp_policy")
            result["rewardbench"]["reference_free"] = reference_free(pairs, policy)
        if paths.t > 0 and cfg.eval.evaluator == "self":
            win_rates(cfg, paths, ours, self_judge, result)
    if pairs and paths.t > 0:
        with open_engine(cfg, current_model(cfg, paths), cfg.eval.backend) as reference_engine:
            reference = pair_logprobs(cfg, paths, reference_engine, pairs, "rewardbench_logp_reference")
        result["rewardbench"]["implicit_reward"] = implicit_reward(pairs, policy, reference, cfg.dpo.beta)
    if paths.t > 0 and cfg.eval.evaluator != "self":
        evaluator = make_evaluator(cfg, paths, None)
        try:
            win_rates(cfg, paths, ours, evaluator, result)
        finally:
            evaluator.close()
    if distributed.is_rank_zero():
        write_json(paths.eval_json, result)
    return result


if __name__ == "__main__":
    raise SystemExit(main("eval"))
