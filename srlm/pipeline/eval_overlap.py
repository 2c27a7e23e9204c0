"""Eval sets checked against the seed SFT data before any work: an overlap found only at eval would come after
the iteration's training.

The seed data (IFT examples and the ranked prompts EFT judges) is known from the config before it is built, so
`data.eval_prompts` and `eval.rewardbench` (a file or a hub id) are checked against it at start; prompts of later
iterations are drawn with every eval set excluded (`srlm.stages.prompts`), and the eval stage checks them all again.
"""

from __future__ import annotations

from pathlib import Path

from srlm.core.paths import RunPaths
from srlm.data.eval_sets import load_prompt_set, read_rows
from srlm.data.prompt_sets import normalize


def seed_training_prompts(cfg) -> set[str]:
    """Normalized prompts the seed stages will train on: IFT examples' and, with EFT, the ranked prompts it judges."""
    from srlm.data.seed import seed_sets

    ift, ranked, _ = seed_sets(cfg, RunPaths(cfg.run_dir).iteration(0))
    prompts = {normalize(e["messages"][0]["content"]) for e in ift}
    return prompts | ({normalize(p["prompt"]) for p in ranked} if cfg.eft.enabled else set())


def can_read(source: str, fetch: bool) -> bool:
    """Whether `source` can be read now: a local file, or a hub id when fetching is allowed and the hub reachable."""
    import huggingface_hub

    if Path(source).expanduser().is_file():
        return True
    return fetch and not huggingface_hub.constants.HF_HUB_OFFLINE


def eval_sets(cfg, fetch: bool) -> dict[str, list[str]]:
    """Config key -> prompts of every eval set the run's eval stage will read that can be read now."""
    sets = {}
    if cfg.data.eval_prompts and Path(cfg.data.eval_prompts).expanduser().is_file():
        sets["data.eval_prompts"] = [p["prompt"] for p in load_prompt_set(cfg.data.eval_prompts)]
    if cfg.eval.rewardbench and can_read(cfg.eval.rewardbench, fetch):
        sets["eval.rewardbench"] = [r["prompt"] for r in read_rows(cfg.eval.rewardbench, "filtered", "RewardBench")]
    return sets


def overlap_problems(cfg, fetch: bool = True) -> list[str]:
    """One line per eval set with prompts the seed SFT data would train on.

    Hub data sets are read only with `fetch` (a run, not a dry run) and when the hub is not offline; a set that
    cannot be read now is left to the eval stage's own check, said in one line.
    """
    if not cfg.eval.enabled:
        return []
    unread = [key for key, source in (("data.oasst", cfg.data.oasst), ("eval.rewardbench", cfg.eval.rewardbench))
              if source and not can_read(source, fetch)]  # fmt: skip
    if unread:
        print(
            f"[srlm] eval-set overlap with the seed data not checked before the run ({', '.join(unread)} on the hub)"
        )
    sets = eval_sets(cfg, fetch) if "data.oasst" not in unread else {}
    training = seed_training_prompts(cfg) if sets else set()
    found = []
    for key, prompts in sets.items():
        shared = [p for p in prompts if normalize(p) in training]
        if shared:
            found.append(
                f"`{key}`: {len(shared)} prompt(s) also used for training (seed SFT data), e.g. {shared[0][:80]!r}"
            )
    return found
