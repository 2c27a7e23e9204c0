"""`srlm eval`: evaluate any model outside a run, as RewardBench's users do on any checkpoint.

    srlm eval MODEL [--rewardbench FILE|HUB_ID] [--reference MODEL]
                    [--prompts FILE --against MODEL|reference] [--evaluator self|endpoint|MODEL]
                    [--ifeval FILE] [--out DIR] [hydra overrides...]

MODEL is a hub id, a checkpoint directory, a run's iteration directory (`runs/x/iteration_2`: the
model that iteration produced) or `smollm2-135m-instruct`. `--rewardbench` takes a RewardBench v1
`filtered` file (per subset, per section, weighted overall; generative judge, log-prob ranking and,
with `--reference`, DPO's implicit reward) or a RewardBench 2 file (best-of-n, random baseline).
`--prompts` takes an AlpacaEval, MT-Bench or srlm prompt file; MODEL's answers are judged in both
orders against `--against`'s answers, or against the file's reference outputs. `--ifeval` takes a file in
Google IFEval's schema (`key`, `prompt`, `instruction_id_list`, `kwargs`; IFEval's own 541 prompts run as they
are): prompt- and instruction-level accuracy, strict and loose, per instruction group. Engine, judge mode and
sizes come from the usual config keys (`eval.backend`, `eval.judge_mode`, `eval.max_new_tokens`,
`eval.rewardbench_max` for a seeded sample of the rows, ...).
Rows are kept in `--out` as they are computed, so the same command resumes; `eval.json` holds the result.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from srlm.config.run_config import enum_value, to_container
from srlm.core.errors import SrlmError
from srlm.core.io import write_json
from srlm.core.paths import RunPaths
from srlm.core.seeds import derive_seed
from srlm.data.eval_sets import is_rewardbench2, load_best_of_n, load_preference_pairs, load_prompt_set, read_rows
from srlm.data.verifiable import load_verifiable
from srlm.evaluation import metrics
from srlm.evaluation.evaluators import EndpointEvaluator, Evaluator
from srlm.evaluation.ifeval import FIGURES, run_ifeval
from srlm.evaluation.tasks import (
    EvalRows,
    best_of_n_judged,
    implicit_reward,
    pair_logprobs,
    reference_free,
    response_lengths,
    responses,
    rewardbench,
    rewardbench2,
    rewardbench2_logprobs,
    win_rate_against,
    within_prompt_limit,
)
from srlm.inference.engines import open_engine
from srlm.models.resolve import resolve_model


def eval_model_path(name: str) -> str:
    """A checkpoint to load: a run's iteration directory gives the model that iteration produced."""
    path = Path(name).expanduser()
    if path.is_dir() and path.name.startswith("iteration_") and not (path / "config.json").exists():
        t = int(path.name.removeprefix("iteration_"))
        model = RunPaths(path.parent).iteration(t).model
        if not (model / "config.json").exists():
            raise SrlmError(f"{path}: this iteration has no trained model yet ({model})")
        return str(model)
    return resolve_model(name)


def default_out(model: str) -> Path:
    return Path("evals") / Path(model.rstrip("/")).name


def settings(args: dict, cfg) -> dict:
    """What the rows in an output directory depend on: refused when a later command differs."""
    keys = ("generation", "judge", "eval", "seed", "model")
    return {"args": args, "config": {k: v for k, v in to_container(cfg).items() if k in keys}}


def check_out_dir(out: Path, wanted: dict) -> None:
    """Create `out`, or check that the rows already there were made with the same settings."""
    record = out / "eval_settings.json"
    if record.exists():
        previous = json.loads(record.read_text())
        if previous != wanted:
            changed = sorted(k for k in wanted["args"] if wanted["args"][k] != previous["args"].get(k))
            changed = changed or ["config keys"]
            raise SrlmError(
                f"{out}: holds rows of a different evaluation (changed: {', '.join(changed)}); "
                "use another --out or the same arguments to resume"
            )
        return
    out.mkdir(parents=True, exist_ok=True)
    write_json(record, wanted)


def evaluate(
    cfg,
    model: str,
    out: Path,
    rewardbench_source: str | None = None,
    reference: str | None = None,
    prompts_source: str | None = None,
    against: str | None = None,
    evaluator: str = "self",
    ifeval_source: str | None = None,
) -> dict:
    """Evaluate `model` on what is given; returns (and writes to `out/eval.json`) the result."""
    if not rewardbench_source and not prompts_source and not ifeval_source:
        raise SrlmError("nothing to evaluate: give --rewardbench, --prompts and/or --ifeval")
    if prompts_source and not against:
        raise SrlmError("--prompts needs --against (a model, or `reference` for the file's reference outputs)")
    path = eval_model_path(model)
    reference_path = eval_model_path(reference) if reference else None
    rb_rows = read_rows(rewardbench_source, "filtered", "RewardBench") if rewardbench_source else []
    v2 = is_rewardbench2(rb_rows)
    pairs = load_best_of_n(rewardbench_source) if v2 else load_preference_pairs(rewardbench_source) if rb_rows else []
    if cfg.eval.rewardbench_max:  # a seeded sample across subsets, as the eval stage takes it
        random.Random(cfg.seed).shuffle(pairs)
        pairs = pairs[: cfg.eval.rewardbench_max]
    prompts = load_prompt_set(prompts_source) if prompts_source else []
    prompts, too_long = within_prompt_limit(cfg, prompts, path, prompts_source) if prompts else ([], 0)
    verifiable, left_out = load_verifiable(ifeval_source) if ifeval_source else ([], {})
    if against == "reference" and any(p["reference"] is None for p in prompts):
        raise SrlmError(f"{prompts_source}: --against reference needs a reference output (`output`) on every row")
    check_out_dir(
        out,
        settings(
            dict(model=path, rewardbench=rewardbench_source, reference=reference_path, prompts=prompts_source,
                 against=against, evaluator=evaluator, ifeval=ifeval_source),
            cfg,
        ),
    )  # fmt: skip
    rows = EvalRows(out, derive_seed(cfg.seed, "srlm-eval"))
    result: dict = {"model": path, "prompts_too_long": too_long}
    theirs = answers_to_beat(cfg, rows, prompts, against) if prompts else []
    mode = enum_value(cfg.eval.judge_mode)
    with open_engine(cfg, path, cfg.eval.backend) as engine:
        judge = Evaluator(engine, cfg, mode)
        if pairs:
            result["rewardbench"] = score_preferences(cfg, rows, engine, judge, pairs, v2)
        if verifiable:
            result["ifeval"] = {**run_ifeval(cfg, rows, engine, verifiable), "left_out": left_out}
        if prompts:
            ours = responses(cfg, rows, engine, prompts)
            for answer in theirs:
                answer.setdefault("tokens", len(engine.encode([answer["text"]])[0]))  # reference outputs
            result["lengths"] = {"model": response_lengths(ours), "against": response_lengths(theirs)}
            if evaluator == "self":
                result["win_rate"] = win_rate_against(cfg, rows, "vs_against", ours, theirs, judge)
    if pairs and reference_path:
        with open_engine(cfg, reference_path, cfg.eval.backend) as ref_engine:
            add_implicit_reward(cfg, rows, ref_engine, pairs, v2, result["rewardbench"])
    if prompts and evaluator != "self":
        judge = open_evaluator(cfg, evaluator)
        try:
            result["win_rate"] = win_rate_against(cfg, rows, "vs_against", ours, theirs, judge)
        finally:
            judge.close()
    if prompts:
        result["win_rate"].update(against=against, evaluator=evaluator)
    write_json(out / "eval.json", result)
    return result


def answers_to_beat(cfg, rows: EvalRows, prompts: list[dict], against: str) -> list[dict]:
    """The answers MODEL's are compared with: the file's reference outputs or another model's answers."""
    if against == "reference":
        return [{"prompt_id": p["prompt_id"], "prompt": p["prompt"], "text": p["reference"]} for p in prompts]
    with open_engine(cfg, eval_model_path(against), cfg.eval.backend) as engine:
        return responses(cfg, rows, engine, prompts, name="against_responses")


def open_evaluator(cfg, name: str):
    if name == "endpoint":
        return EndpointEvaluator(cfg)
    engine = open_engine(cfg, eval_model_path(name), cfg.eval.backend)
    return Evaluator(engine, cfg, enum_value(cfg.eval.judge_mode), owns_engine=True)


def score_preferences(cfg, rows: EvalRows, engine, judge, pairs: list[dict], v2: bool) -> dict:
    """RewardBench v1 pairs or v2 best-of-n rows: generative judge and log-prob ranking by the model."""
    if v2:
        policy = rewardbench2_logprobs(cfg, rows, engine, pairs, "rewardbench2_logp_policy")
        mean_logp = {k: lp / max(n, 1) for k, (lp, n) in policy.items()}
        return {
            "schema": "RewardBench 2",
            "generative": rewardbench2(cfg, rows, judge, pairs),
            "reference_free": metrics.rewardbench2_scores(best_of_n_judged(pairs, mean_logp.get), seed=rows.seed),
            "rows": len(pairs),
            "_policy": policy,
        }
    result = rewardbench(cfg, rows, judge, pairs)
    policy = pair_logprobs(cfg, rows, engine, pairs, "rewardbench_logp_policy")
    result.update(schema="RewardBench", reference_free=reference_free(pairs, policy, rows.seed), _policy=policy)
    return result


def add_implicit_reward(cfg, rows: EvalRows, ref_engine, pairs: list[dict], v2: bool, result: dict) -> None:
    """DPO's implicit reward beta * (log pi - log pi_ref), with the reference model's log-probs."""
    policy = result.pop("_policy")
    if v2:
        reference = rewardbench2_logprobs(cfg, rows, ref_engine, pairs, "rewardbench2_logp_reference")
        reward = {k: cfg.dpo.beta * (policy[k][0] - reference[k][0]) for k in policy}
        result["implicit_reward"] = metrics.rewardbench2_scores(best_of_n_judged(pairs, reward.get), seed=rows.seed)
    else:
        reference = pair_logprobs(cfg, rows, ref_engine, pairs, "rewardbench_logp_reference")
        result["implicit_reward"] = implicit_reward(pairs, policy, reference, cfg.dpo.beta, rows.seed)


def interval_text(value, interval) -> str:
    if value is None:
        return "-"
    return f"{value:.3f}" + (f" [{interval[0]:.3f}, {interval[1]:.3f}]" if interval else "")


def result_table(result: dict) -> str:
    """The figures of an `srlm eval` result as a plain-text table, each with its 95% interval."""
    lines = [f"model {result['model']}", f"{'figure':<44} value [95% interval]", "-" * 72]
    rb = result.get("rewardbench")
    if rb:
        for kind in ("generative", "pairwise", "reference_free", "implicit_reward"):
            scores = rb.get(kind)
            if not scores:
                continue
            intervals = scores.get("intervals", {})
            overall = interval_text(scores.get("overall"), intervals.get("overall"))
            lines.append(f"{rb['schema'] + ' ' + kind + ' overall':<44} {overall}")
            if "sections" in scores:  # RewardBench v1: sections; RewardBench 2: subsets and a random baseline each
                figures = scores["sections"].items()
            else:
                figures = ((name, s["accuracy"]) for name, s in scores["subsets"].items())
            for name, value in figures:
                baseline = scores.get("random_baseline", {}).get(name)
                chance = f"   (random {baseline:.3f})" if baseline is not None else ""
                lines.append(f"{'  ' + name:<44} {interval_text(value, intervals.get(name))}{chance}")
    lines += ifeval_lines(result.get("ifeval"))
    wr = result.get("win_rate")
    if wr:
        lines.append(f"{'win rate vs ' + str(wr['against']):<44} {interval_text(wr['win_rate'], wr.get('interval'))}")
        if wr.get("position_a_rate") is not None:
            lines.append(f"{'  evaluator picks the first answer':<44} {wr['position_a_rate']:.3f}")
        for who, stats in result.get("lengths", {}).items():
            truncated = stats.get("truncated")
            cut = f", truncated {truncated:.2f}" if truncated is not None else ""
            lines.append(f"{'  length, ' + who:<44} mean {stats['mean']:.1f}{cut}")
    return "\n".join(lines)


def ifeval_lines(scores: dict | None) -> list[str]:
    """IFEval's four figures and the per-group instruction-level accuracy, with the share of cut answers."""
    if not scores:
        return []
    lines = [f"{'IFEval ' + name.replace('_', ' '):<44} {interval_text(scores[name], scores['intervals'][name])}"
             for name in FIGURES]  # fmt: skip
    for group, g in scores["groups"].items():
        lines.append(f"{'  ' + group + ' (instruction, strict)':<44} {interval_text(g['accuracy'], g['interval'])}")
    truncated = scores.get("truncated")
    cut = f"{truncated:.2f}" if truncated is not None else "-"
    lines.append(f"{'  answers cut at ' + str(scores['max_new_tokens']) + ' tokens':<44} {cut}")
    return lines
