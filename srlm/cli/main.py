"""The `srlm` command.

srlm run [--dry-run] [hydra overrides...]   run (or resume) a run, e.g. `srlm run recipe=smoke`
srlm status RUN_DIR                          what ran, with each stage's key metric
srlm report RUN_DIR                          HTML page and PNG plots of the per-iteration metrics
srlm eval MODEL --rewardbench FILE ...       evaluate any model (RewardBench v1/v2, win rates, IFEval)
srlm recipes                                 every recipe with its summary
srlm config [--keys] [hydra overrides...]    the composed config (or every key with its default and help)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from srlm.core.errors import SrlmError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="srlm", description="Self-rewarding language models by iterative DPO.")
    sub = parser.add_subparsers(dest="command", required=True)
    run_p = sub.add_parser(
        "run",
        help="run or resume a run (hydra overrides follow)",
        epilog="Config keys: `srlm config --keys` lists every key with its default and help; `srlm config "
        "recipe=NAME key=value` prints the composed config; `srlm recipes` lists the recipes.",
    )
    run_p.add_argument("--dry-run", action="store_true", help="print every stage's launch command and exit")
    run_p.add_argument("overrides", nargs="*", help="hydra overrides, e.g. recipe=smoke run_dir=/tmp/x")
    st = sub.add_parser("status", help="show a run's stages and key metrics")
    st.add_argument("run_dir")
    rp = sub.add_parser("report", help="write an HTML report with plots")
    rp.add_argument("run_dir")
    rp.add_argument("--out", type=Path, help="output directory (default RUN_DIR/report; e.g. for a read-only run)")
    ev = sub.add_parser("eval", help="evaluate any model: RewardBench v1/v2 files, win rates on a prompt set")
    ev.add_argument("model", help="hub id, checkpoint dir, a run's iteration dir, or smollm2-135m-instruct")
    ev.add_argument("--rewardbench", help="RewardBench v1 (filtered) or RewardBench 2 file, or a hub id")
    ev.add_argument("--reference", help="reference model for DPO's implicit reward on --rewardbench")
    ev.add_argument("--prompts", help="AlpacaEval, MT-Bench or srlm prompt file for win rates")
    ev.add_argument("--against", help="model to compare with on --prompts, or `reference` (the file's outputs)")
    ev.add_argument("--evaluator", default="self", help="win-rate judge: self (MODEL), endpoint, or a model")
    ev.add_argument("--ifeval", help="verifiable prompts in Google IFEval's schema (IFEval's input_data.jsonl)")
    ev.add_argument("--out", type=Path, help="output directory (rows, eval.json); default evals/<model name>")
    ev.add_argument("overrides", nargs="*", help="hydra overrides, e.g. eval.backend=hf eval.judge_mode=sampled")
    sub.add_parser("recipes", help="list the recipes")
    cf = sub.add_parser("config", help="print the composed config, or every key with --keys")
    cf.add_argument("--keys", action="store_true", help="every key with its default and help text")
    cf.add_argument("overrides", nargs="*", help="hydra overrides, e.g. recipe=smoke")
    args, extra = parser.parse_known_args(argv)  # `srlm eval MODEL --flag x key=value`: overrides after flags
    if extra and args.command != "eval" or any(e.startswith("-") for e in extra):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if args.command == "eval":
        args.overrides += extra
    try:
        if args.command == "run":
            return _run(args.overrides, args.dry_run)
        if args.command == "eval":
            return _eval(args)
        if args.command in ("recipes", "config"):
            print(_describe(args))
            return 0
        if args.command == "status":
            from srlm.pipeline.status import status_table

            print(status_table(args.run_dir))
            return 0
        from srlm.reporting.report import write_report

        print(f"report written to {write_report(args.run_dir, out=args.out)}")
        return 0
    except SrlmError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


def _describe(args) -> str:
    """`srlm recipes` and `srlm config`."""
    from omegaconf import OmegaConf

    from srlm.config.compose import compose
    from srlm.config.recipes import key_help, recipe_names, recipe_summary

    if args.command == "recipes":
        return "\n".join(f"{name:<20} {recipe_summary(name)}" for name in recipe_names())
    if args.keys:
        return "\n".join(f"{key:<36} {default:<24} {text}" for key, default, text in key_help())
    return OmegaConf.to_yaml(compose(args.overrides))


def _eval(args) -> int:
    from srlm.config.compose import compose
    from srlm.evaluation.evaluate import default_out, evaluate, result_table

    cfg = compose(args.overrides)
    out = args.out or default_out(args.model)
    result = evaluate(
        cfg, args.model, out, args.rewardbench, args.reference, args.prompts, args.against, args.evaluator, args.ifeval
    )
    print(result_table(result))
    print(f"\n[srlm] results in {out / 'eval.json'}")
    return 0


def _run(overrides: list[str], dry_run: bool) -> int:
    from srlm.config.compose import compose

    cfg = compose(overrides)
    if dry_run:
        from srlm.pipeline.driver import dry_run as plan

        print("\n".join(plan(cfg)))
        return 0
    from srlm.pipeline.driver import run
    from srlm.pipeline.status import status_table

    paths = run(cfg)
    print(status_table(paths.root))
    print(f"\n[srlm] done; results in {paths.root} (srlm status {paths.root}; srlm report {paths.root})")
    return 0
