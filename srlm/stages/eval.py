"""Eval (after the seed SFT and after every DPO): did this iteration's model get better?

Measures, for the model M this iteration produced (M_1 at iteration 0, M_{t+1} after DPO):
- win rates of M against M_t and against the seed model M_1 on held-out prompts, every pair judged
  in both orders by the evaluator (`seed` by default, so numbers compare across iterations), with
  the response lengths of each model and the share cut at `eval.max_new_tokens`;
- judge-human agreement of M as a judge on the held-out EFT split (ranked OASST replies);
- RewardBench-style accuracy of M as a generative judge and, after DPO, of its implicit reward;
- IFEval's figures of M on the held-out verifiable prompts of `eval.ifeval`, and the reward audit of this
  iteration's judge (`reward_audit.json` of the pairs stage).
Rows are written as they are computed (`eval_*.jsonl`, see `srlm.evaluation.tasks`), so an interrupted eval resumes.

Run by hand: `python -m srlm.stages.eval RUN_DIR ITERATION`.
"""

from __future__ import annotations

import random
from pathlib import Path

from srlm.config.run_config import enum_value
from srlm.core import distributed
from srlm.core.errors import SrlmError
from srlm.core.io import read_json, read_jsonl, write_json
from srlm.data.eval_sets import load_preference_pairs, load_prompt_set
from srlm.data.prompt_sets import normalize, training_prompts
from srlm.data.verifiable import load_verifiable
from srlm.evaluation import metrics
from srlm.evaluation.evaluators import Evaluator, make_evaluator
from srlm.evaluation.ifeval import difference as ifeval_difference
from srlm.evaluation.ifeval import run_ifeval
from srlm.evaluation.tasks import (
    EvalRows,
    implicit_reward,
    pair_logprobs,
    pointwise_scores,
    reference_free,
    response_lengths,
    responses,
    rewardbench,
    win_rate_against,
    within_prompt_limit,
)
from srlm.inference.engines import open_engine
from srlm.stages import current_model, main, stage_seed


def eval_rows(cfg, paths) -> EvalRows:
    return EvalRows(paths.dir, stage_seed(cfg, paths, "eval"))


def eval_prompts(cfg, paths) -> list[dict]:
    """The held-out prompts of `data.eval_prompts` (srlm, AlpacaEval or MT-Bench schema; unique ids)."""
    path = Path(cfg.data.eval_prompts)
    if not path.exists():
        raise SrlmError(f"{path}: eval prompt set not found (data.eval_prompts)")
    rows = load_prompt_set(str(path))
    n = cfg.eval.win_rate_prompts or len(rows)
    return rows[:n]


def check_no_overlap(name: str, prompts: list[str], training: set[str]) -> None:
    overlap = [p for p in prompts if normalize(p) in training]
    if overlap:
        raise SrlmError(f"{name}: {len(overlap)} prompt(s) also used for training, e.g. {overlap[0][:80]!r}")


def judge_agreement(cfg, paths, evaluator: Evaluator, training: set[str]) -> dict | None:
    held_out = paths.run.iteration(0).eft_eval
    prompts = read_jsonl(held_out) if held_out.exists() else []
    if not prompts:
        return None
    check_no_overlap(str(held_out), [p["prompt"] for p in prompts], training)
    items = [
        {"id": r["message_id"], "prompt": p["prompt"], "response": r["text"]} for p in prompts for r in p["replies"]
    ]
    scores = pointwise_scores(cfg, eval_rows(cfg, paths), evaluator, "judge_human", items)
    agreement = metrics.judge_human_agreement(
        seed=stage_seed(cfg, paths, "eval"),
        prompts=[
            {"replies": [{"rank": r["rank"], "score": scores.get(r["message_id"])} for r in p["replies"]]}
            for p in prompts
        ],
    )
    return {**agreement, "scores": metrics.score_distribution(list(scores.values()))}


def rewardbench_pairs(cfg, training: set[str]) -> list[dict]:
    """The preference pairs of `eval.rewardbench`, in a seeded order, at most `eval.rewardbench_max`."""
    pairs = load_preference_pairs(cfg.eval.rewardbench)
    random.Random(cfg.seed).shuffle(pairs)
    pairs = pairs[: cfg.eval.rewardbench_max or len(pairs)]
    check_no_overlap(cfg.eval.rewardbench, [p["prompt"] for p in pairs], training)
    return pairs


def ifeval_prompts(cfg, training: set[str]) -> list[dict]:
    """The held-out verifiable prompts of `eval.ifeval` (none when unset), checked not to be trained on."""
    if not cfg.eval.ifeval:
        return []
    prompts, _ = load_verifiable(cfg.eval.ifeval)
    check_no_overlap(cfg.eval.ifeval, [p["prompt"] for p in prompts], training)
    return prompts


def win_rates(cfg, paths, ours: list[dict], evaluator, result: dict) -> None:
    """Win rates of this iteration's responses against M_t's and the seed model's, with their lengths."""
    previous = read_jsonl(paths.previous.dir / "eval_responses.jsonl")
    seed = read_jsonl(paths.run.iteration(0).dir / "eval_responses.jsonl")
    prev_wr = win_rate_against(cfg, eval_rows(cfg, paths), "vs_previous", ours, previous, evaluator)
    # at iteration 1 the previous model is the seed model
    seed_wr = (
        win_rate_against(cfg, eval_rows(cfg, paths), "vs_seed", ours, seed, evaluator) if paths.t > 1 else prev_wr
    )
    for name, wr, theirs in (("previous", prev_wr, previous), ("seed", seed_wr, seed)):
        result[f"win_rate_vs_{name}"] = wr["win_rate"]
        result[f"prob_win_rate_vs_{name}"] = wr["prob_win_rate"]
        result[f"lc_win_rate_vs_{name}"] = wr["length_controlled"]["lc_win_rate"]
        result[f"vs_{name}"] = wr
        result["lengths"][name] = response_lengths(theirs)


def run(cfg, paths) -> dict:
    """Each model is held by one engine at a time: M (this iteration's), then M_t (reference), then the evaluator."""
    new_model = str(paths.model)
    training = training_prompts(paths.run, upto=paths.t)
    prompts, too_long = within_prompt_limit(cfg, eval_prompts(cfg, paths), new_model, cfg.data.eval_prompts)
    check_no_overlap(cfg.data.eval_prompts, [p["prompt"] for p in prompts], training)
    pairs = rewardbench_pairs(cfg, training) if cfg.eval.rewardbench else []
    mode = enum_value(cfg.eval.judge_mode)
    result: dict = {"iteration": paths.t, "model": new_model, "eval_prompts_too_long": too_long}
    rows = eval_rows(cfg, paths)
    verifiable = ifeval_prompts(cfg, training)
    with open_engine(cfg, new_model, cfg.eval.backend) as engine:
        ours = responses(cfg, rows, engine, prompts)
        if verifiable:
            result["ifeval"] = run_ifeval(cfg, rows, engine, verifiable)
            seed_results = paths.run.iteration(0).dir / "ifeval_results.jsonl"
            if paths.t > 0 and seed_results.exists():  # M_{t+1} - M_1 on the same held-out prompts
                verdicts = read_jsonl(paths.dir / "ifeval_results.jsonl")
                result["ifeval"]["prompt_strict_vs_seed"] = ifeval_difference(
                    verdicts, read_jsonl(seed_results), rows.seed
                )
        result["lengths"] = {"model": response_lengths(ours)}
        self_judge = Evaluator(engine, cfg, mode)
        agreement = judge_agreement(cfg, paths, self_judge, training)
        if agreement:
            result["judge_human"] = agreement
            result["judge_accuracy"] = agreement.get("pairwise_accuracy")
        if pairs:
            result["rewardbench"] = rewardbench(cfg, rows, self_judge, pairs)
            policy = pair_logprobs(cfg, rows, engine, pairs, "rewardbench_logp_policy")
            result["rewardbench"]["reference_free"] = reference_free(pairs, policy, rows.seed)
        if paths.t > 0 and cfg.eval.evaluator == "self":
            win_rates(cfg, paths, ours, self_judge, result)
    if pairs and paths.t > 0:
        with open_engine(cfg, current_model(cfg, paths), cfg.eval.backend) as reference_engine:
            reference = pair_logprobs(cfg, rows, reference_engine, pairs, "rewardbench_logp_reference")
        result["rewardbench"]["implicit_reward"] = implicit_reward(pairs, policy, reference, cfg.dpo.beta, rows.seed)
    if paths.t > 0 and cfg.eval.evaluator != "self":
        evaluator = make_evaluator(cfg, paths, None)
        try:
            win_rates(cfg, paths, ours, evaluator, result)
        finally:
            evaluator.close()
    if paths.reward_audit.exists():  # the self-judge against the verifier on this iteration's candidates
        result["reward_audit"] = read_json(paths.reward_audit)
    if paths.meta_stats.exists():  # the meta-judge's position bias, beside the judge's own figures
        result["meta_judge"] = read_json(paths.meta_stats)
    if distributed.is_rank_zero():
        write_json(paths.eval_json, result)
    return result


if __name__ == "__main__":
    raise SystemExit(main("eval"))
