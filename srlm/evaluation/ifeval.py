"""IFEval on an engine, shared by the eval stage and `srlm eval --ifeval`: answers, the checker's verdicts, and
IFEval's four figures (prompt- and instruction-level, strict and loose) with 95% intervals, overall and per
instruction group (`keywords`, `detectable_format`, ...).

Answers are kept in `eval_<name>_responses.jsonl` as they are written (resumable); the verdicts, in IFEval's
output schema (`prompt`, `response`, `instruction_id_list`, `follow_all_instructions`,
`follow_instruction_list`, and the loose list), in `<name>_results.jsonl`.
"""

from __future__ import annotations

from srlm.core.io import write_jsonl
from srlm.data.verifiable import verify
from srlm.evaluation import metrics
from srlm.evaluation.tasks import EvalRows, response_lengths, responses

FIGURES = {
    "prompt_strict_accuracy": ("follow_instruction_list", True),
    "prompt_loose_accuracy": ("follow_instruction_list_loose", True),
    "instruction_strict_accuracy": ("follow_instruction_list", False),
    "instruction_loose_accuracy": ("follow_instruction_list_loose", False),
}


def _share(results: list[dict], field: str, prompt_level: bool) -> float | None:
    if prompt_level:
        return sum(all(r[field]) for r in results) / len(results) if results else None
    parts = [(sum(r[field]), len(r[field])) for r in results]
    total = sum(n for _, n in parts)
    return sum(x for x, _ in parts) / total if total else None


def group_of(instruction_id: str) -> str:
    return instruction_id.split(":", 1)[0]


def group_scores(results: list[dict], seed: int) -> dict:
    """Instruction-level strict and loose accuracy per instruction group, intervals resampling prompts."""
    groups = sorted({group_of(i) for r in results for i in r["instruction_id_list"]})
    out = {}
    for g in groups:
        parts = []
        for r in results:
            idx = [k for k, i in enumerate(r["instruction_id_list"]) if group_of(i) == g]
            if idx:
                parts.append(
                    {f: [r[f][k] for k in idx] for f in ("follow_instruction_list", "follow_instruction_list_loose")}
                )
        strict = lambda rs: _share(rs, "follow_instruction_list", False)  # noqa: E731
        loose = lambda rs: _share(rs, "follow_instruction_list_loose", False)  # noqa: E731
        out[g] = {
            "accuracy": strict(parts),
            "interval": metrics.bootstrap_interval(parts, strict, seed),
            "loose_accuracy": loose(parts),
            "loose_accuracy_interval": metrics.bootstrap_interval(parts, loose, seed),
            "instructions": sum(len(p["follow_instruction_list"]) for p in parts),
        }
    return out


def ifeval_scores(results: list[dict], seed: int = 0) -> dict:
    """IFEval's figures of verdict rows, each with its 95% interval.

    Prompt-level shares get a Wilson interval (one trial per prompt); instruction-level shares a bootstrap interval
    resampling whole prompts, since the instructions of one prompt are answered by one response.
    """
    scores: dict = {"prompts": len(results), "instructions": sum(len(r["instruction_id_list"]) for r in results)}
    intervals = {}
    for name, (field, prompt_level) in FIGURES.items():
        scores[name] = _share(results, field, prompt_level)
        if prompt_level:
            intervals[name] = metrics.wilson_interval(sum(all(r[field]) for r in results), len(results))
        else:
            intervals[name] = metrics.bootstrap_interval(results, lambda rs, f=field: _share(rs, f, False), seed)
    scores["intervals"] = intervals
    scores["groups"] = group_scores(results, seed)
    return scores


def run_ifeval(cfg, rows: EvalRows, engine, prompts: list[dict], name: str = "ifeval") -> dict:
    """The engine's model answers every verifiable prompt; the checker's verdicts and IFEval's figures."""
    answers = responses(cfg, rows, engine, prompts, name=f"{name}_responses")
    by_id = {a["prompt_id"]: a for a in answers}
    results = []
    for p in prompts:  # in the file's order
        a = by_id[p["prompt_id"]]
        verdict = verify(p, a["text"])
        results.append(
            {
                "key": p["prompt_id"],
                "prompt": p["prompt"],
                "response": a["text"],
                "follow_all_instructions": all(verdict["follow_instruction_list"]),
                **verdict,
            }
        )
    write_jsonl(rows.dir / f"{name}_results.jsonl", results)
    lengths = response_lengths(answers)
    return {
        **ifeval_scores(results, seed=rows.seed),
        "max_new_tokens": cfg.eval.max_new_tokens,
        "truncated": lengths["truncated"],  # cut answers fail length and end-phrase checks: read the figures with it
        "mean_tokens": lengths["mean"],
    }


def difference(ours: list[dict], theirs: list[dict], seed: int = 0) -> dict:
    """Prompt-level strict accuracy of `ours` minus `theirs` (verdict rows of two models on the same prompts), with
    a paired bootstrap interval resampling prompts: above 0 when ours is better beyond the sampling of prompts."""
    by_key = {r["key"]: all(r["follow_instruction_list"]) for r in theirs}
    deltas = [float(all(r["follow_instruction_list"])) - by_key[r["key"]] for r in ours if r["key"] in by_key]
    mean = lambda ds: sum(ds) / len(ds) if ds else None  # noqa: E731
    return {"prompts": len(deltas), "value": mean(deltas), "interval": metrics.bootstrap_interval(deltas, mean, seed)}
