"""The targets the results are held to, and the short table printed at the end of a run."""

from __future__ import annotations

TARGETS = (
    # name, section, key, comparison, threshold, what
    ("batched_generation", "generate", "speedup_vs_sequential", ">=", 5.0, "batched generation speedup"),
    ("expected_score_judging", "judge", "speedup_expected_vs_sampled", ">=", 10.0, "expected-score judging speedup"),
    ("dpo_overhead", "dpo", "overhead_vs_trl", "<=", 1.2, "srlm dpo step / bare TRL step"),
    ("iteration", "iteration", "wall_s", "<=", 600.0, "one iteration of the recipe, s"),
    ("chunked_generation", "chunking", "chunked_vs_per_8_min", ">=", 1.0, "vLLM chunks / 8 per call, tokens/s"),
)


def targets(results: dict) -> dict:
    """Each target with its value and `met` (null when its section did not run)."""
    out = {}
    for name, section, key, op, threshold, what in TARGETS:
        value = results.get(section, {}).get(key)
        met = None if value is None else (value >= threshold if op == ">=" else value <= threshold)
        out[name] = {"what": what, "target": f"{op} {threshold:g}", "value": value, "met": met}
    return out


def fmt(x) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:.3g}" if abs(x) < 100 else f"{x:.0f}"
    return str(x)


def stat_row(section: str, figure: str, value) -> tuple[str, str, str, str, str]:
    """(section, figure, median, min, max) of a summarized figure or a plain number."""
    if isinstance(value, dict) and "median" in value:
        return section, figure, fmt(value["median"]), fmt(value["min"]), fmt(value["max"])
    return section, figure, fmt(value), "", ""


def generate_rows(g: dict) -> list[tuple]:
    return [
        stat_row("generate", "srlm batched, tokens/s", g["batched_tokens_per_s"]),
        stat_row("generate", "one at a time, tokens/s", g["sequential_tokens_per_s"]),
        stat_row("generate", "speedup vs sequential", g["speedup_vs_sequential_stats"]),
    ]


def judge_rows(j: dict) -> list[tuple]:
    return [
        stat_row("judge", f"sampled (k={j['samples_per_candidate']}), cand/s", j["sampled_candidates_per_s"]),
        stat_row("judge", "expected score, cand/s", j["expected_candidates_per_s"]),
        stat_row("judge", "speedup expected vs sampled", j["speedup_expected_vs_sampled_stats"]),
        stat_row("judge", "sampled verdict parse rate", j["parse_rate"]),
        stat_row("judge", "pair agreement of the modes", j["pair_agreement"]),
    ]


def scaling_rows(sc: dict) -> list[tuple]:
    rows = []
    for key, unit in (("by_prompts", "s_per_prompt"), ("by_candidates", "s_per_candidate")):
        for p in sc[key]:
            label = f"{p['prompts']} prompt(s) x {p['candidates_per_prompt']}, {unit.replace('_', ' ')}"
            rows.append(stat_row("scaling", label, p[unit]))
    return rows


def dpo_rows(d: dict) -> list[tuple]:
    return [
        stat_row("dpo", "srlm stage, s/step", d["srlm_s_per_step"]),
        stat_row("dpo", "bare TRL, s/step", d["trl_s_per_step"]),
        stat_row("dpo", "overhead vs TRL", d["overhead_vs_trl_stats"]),
    ]


def iteration_rows(it: dict) -> list[tuple]:
    runs = f"{it['runs']} run" + ("s" if it["runs"] > 1 else "")
    rows = [stat_row("iteration", f"wall s ({runs})", it["wall_s_stats"])]
    return rows + [stat_row("iteration", f"  {s} s", v) for s, v in it["stages_stats"].items()]


def gpu_rows(gpu: dict) -> list[tuple]:
    if "skipped" in gpu:
        return [("gpu", f"skipped: {gpu['skipped']}", "", "", "")]
    rows = []
    for part in ("hf_generate", "vllm_generate"):
        res = gpu[part]
        if "tokens_per_s" in res:
            rows.append(stat_row("gpu", f"{part}, tokens/s", res["tokens_per_s"]))
        else:
            rows.append(("gpu", f"{part}: {'skipped' if 'skipped' in res else 'failed'} (see the JSON)", "", "", ""))
    d = gpu["dpo"]
    if "error" in d:
        rows.append(("gpu", "dpo: failed (see the JSON)", "", "", ""))
    if "srlm_tokens_per_s" in d:
        rows.append(stat_row("gpu", "dpo (srlm), tokens/s", d["srlm_tokens_per_s"]))
    if "srlm_peak_memory_bytes" in d:
        rows.append(stat_row("gpu", "dpo (srlm), peak memory GiB", d["srlm_peak_memory_bytes"] / 2**30))
    return rows


def engine_point_rows(tag: str, p: dict, k: int) -> list[tuple]:
    rows = []
    for part, label, unit in (
        ("generate", "generate", "tokens/s"),
        ("judge_sampled", f"judge sampled k={k}", "cand/s"),
        ("judge_expected", "judge expected", "cand/s"),
    ):
        figures = p[part]
        key = "tokens_per_s" if part == "generate" else "candidates_per_s"
        rows.append(stat_row("engines", f"{tag} {label} hf, {unit}", figures[f"hf_{key}"]))
        rows.append(stat_row("engines", f"{tag} {label} vllm, {unit}", figures[f"vllm_{key}"]))
        rows.append(stat_row("engines", f"{tag} {label} vllm/hf", figures["vllm_vs_hf_stats"]))
    return rows


def roofline_rows(r: dict) -> list[tuple]:
    rows = []
    for name, shape in r["matmul_shapes"].items():
        rows.append(stat_row("roofline", f"matmul {shape}, GFLOPS", r["matmul_gflops"][name]))
        if "matmul_gflops_one_thread" in r:
            rows.append(stat_row("roofline", "  on 1 thread, GFLOPS", r["matmul_gflops_one_thread"][name]))
    rows.append(stat_row("roofline", "model GFLOP per token", r["gflop_per_token"]))
    for name, limit in r["tokens_per_s_limit"].items():
        rows.append(stat_row("roofline", f"{name} matmul limit, tokens/s", limit))
    for name, f in r.get("fractions", {}).items():
        rows.append(stat_row("roofline", f"{name.replace('_', ' ')}: share of square limit", f["of_square_limit"]))
    return rows


def engines_rows(e: dict) -> list[tuple]:
    if "by_prompts" not in e:
        why = f"skipped: {e['skipped']}" if "skipped" in e else "failed (see the JSON)"
        return [("engines", why[:44], "", "", "")] + roofline_rows(e["roofline"])
    rows = [stat_row("engines", f"start-up {b}, s", e["startup_s"][b]) for b in ("hf", "vllm")]
    for p in e["by_prompts"].values():
        rows += engine_point_rows(f"{p['prompts']} prompt{'s' * (p['prompts'] != 1)}:", p, e["judge_samples"])
    return rows + roofline_rows(e["roofline"])


def chunking_rows(c: dict) -> list[tuple]:
    if "by_prompts" not in c:
        return [("chunking", f"skipped: {c['skipped']}"[:44], "", "", "")]
    rows = [stat_row("chunking", "vllm start-up, s", c["vllm_startup_s"])]
    for p in c["by_prompts"].values():
        calls = p["prompts_per_call"]
        rows.append(
            stat_row("chunking", f"{p['prompts']} prompts, {calls['per_8']}/call, tok/s", p["per_8_tokens_per_s"])
        )
        label = f"{p['prompts']} prompts, {calls['chunked']}/call, tok/s"
        rows.append(stat_row("chunking", label, p["chunked_tokens_per_s"]))
        rows.append(stat_row("chunking", f"{p['prompts']} prompts, chunked / per 8", p["chunked_vs_per_8"]))
    return rows


ROWS = {
    "generate": generate_rows,
    "judge": judge_rows,
    "scaling": scaling_rows,
    "dpo": dpo_rows,
    "iteration": iteration_rows,
    "gpu": gpu_rows,
    "engines": engines_rows,
    "chunking": chunking_rows,
}


def table(results: dict) -> str:
    """A fixed-width table of the headline figures, then the targets."""
    env = results["machine"]
    head = (
        f"srlm benchmark: {results['model']} on {env['name']} ({env['device']}, torch {env['torch']}), "
        f"{results['options']['repeats']} repeat(s){' quick' if results['options']['quick'] else ''}"
    )
    rows = [("section", "figure", "median", "min", "max")]
    rows += [row for name, fn in ROWS.items() if results.get(name) for row in fn(results[name])]
    lines = [head] + [f"{a:<10} {b:<44} {c:>9} {d:>9} {e:>9}" for a, b, c, d, e in rows]
    lines.append("targets:")
    for t in results.get("targets", {}).values():
        met = {True: "met", False: "NOT met", None: "not measured"}[t["met"]]
        lines.append(f"  {t['what']:<32} {t['target']:>7}: {fmt(t['value']):>7}  {met}")
    return "\n".join(lines)
