"""Prompts: a pool of new prompts for the iteration, none reused across iterations, none from eval sets.

`prompts.source=pool` takes them from a data set (by default OASST first-turn prompts not used for
IFT/EFT); `self_instruct` generates them few-shot from the seed prompts (paper: 8-shot, 6 seed +
2 generated, T=0.6, top-p 0.9) and filters near-duplicates, length and bad keywords.

Run by hand: `python -m srlm.stages.prompts RUN_DIR ITERATION`.
"""

from __future__ import annotations

import random
import re

from srlm.config.run_config import enum_value
from srlm.core.errors import SrlmError
from srlm.core.io import read_jsonl, write_jsonl
from srlm.core.resources import template
from srlm.core.seeds import derive_seed
from srlm.data.near_duplicates import NearDuplicateIndex
from srlm.data.prompt_pool import held_out_prompts, pool_prompts, wanted
from srlm.data.prompt_sets import normalize, report_shortfall, report_too_long, too_long, training_prompts
from srlm.inference.batches import items_per_call
from srlm.inference.engines import open_engine
from srlm.models.loading import load_tokenizer
from srlm.models.resolve import resolve_model
from srlm.rewarding.templates import fill
from srlm.stages import current_model, main, stage_seed

TEMPLATE = template("self_instruct.txt")
NEXT_TASK = "\nTask "  # the model going on to the next example: where the instruction it wrote ends
NEXT_TASK_LINE = re.compile(r"\nTask\b")
MAX_INSTRUCTION_TOKENS = 256  # room for prompts.max_words words; an instruction cut at this limit is dropped


def excluded_prompts(cfg, paths) -> set[str]:
    """Normalized prompts that must not be used: training data's, earlier iterations', eval sets'."""
    seen = training_prompts(paths.run, upto=paths.t - 1) | held_out_prompts(cfg)
    eft_eval = paths.run.iteration(0).eft_eval
    if eft_eval.exists():
        seen |= {normalize(r["prompt"]) for r in read_jsonl(eft_eval)}
    return seen


def from_pool(cfg, paths, excluded: set[str]) -> tuple[list[dict], dict]:
    pool = pool_prompts(cfg)
    random.Random(cfg.seed).shuffle(pool)  # one fixed order for the whole run; iterations take successive slices
    fresh = [p for p in pool if normalize(p["prompt"]) not in excluded]
    unique = list({normalize(p["prompt"]): p for p in fresh}.values())
    chosen, skipped = fitting_prompts(cfg, paths, unique)
    if not chosen:
        raise SrlmError(
            f"iteration {paths.t}: the prompt pool ({cfg.prompts.pool or cfg.data.oasst}) has no unused prompt left "
            f"({len(pool)} in the pool); add prompts or use prompts.source=self_instruct"
        )
    stats = {"pool_size": len(pool), "pool_unused": len(unique), "too_long": skipped}
    stats["shortfall"] = report_shortfall(f"iteration {paths.t}: pool prompts", len(chosen), wanted(cfg, paths.t))
    return [{**p, "source": "pool"} for p in chosen], stats


def fitting_prompts(cfg, paths, pool: list[dict]) -> tuple[list[dict], int]:
    """The first `wanted` prompts of `pool` within `data.max_prompt_tokens`, and how many were not."""
    limit = cfg.data.max_prompt_tokens
    tokenizer = load_tokenizer(current_model(cfg, paths))
    chosen, skipped = [], 0
    for p in pool:
        if len(chosen) == wanted(cfg, paths.t):
            break
        if too_long(p["prompt"], tokenizer, limit):
            skipped += 1
        else:
            chosen.append(p)
    report_too_long(f"iteration {paths.t}: prompts.pool", skipped, limit)
    return chosen, skipped


def keep_instruction(text: str, kept: NearDuplicateIndex | list[str], excluded: set[str], pc) -> str | None:
    """The reason a generated prompt is filtered out, or None when it is kept.

    `kept`: the prompts it must not nearly repeat (ROUGE-L F-measure above `pc.max_similarity`, as Self-Instruct).
    """
    words = text.split()
    if not (pc.min_words <= len(words) <= pc.max_words):
        return "length"
    if any(b.lower() in text.lower() for b in pc.bad_words):
        return "bad_word"
    norm = normalize(text)
    if norm in excluded:
        return "duplicate"
    if not isinstance(kept, NearDuplicateIndex):
        kept = NearDuplicateIndex(pc.max_similarity, kept)
    if kept.is_near_duplicate(text):
        return "similar"
    return None


def self_instruct(cfg, paths, excluded: set[str]) -> tuple[list[dict], dict]:
    pc, n = cfg.prompts, wanted(cfg, paths.t)
    seeds = [r["messages"][0]["content"] for r in read_jsonl(paths.run.iteration(0).ift)]
    if not seeds:
        raise SrlmError(f"{paths.run.iteration(0).ift}: no seed prompts for self_instruct")
    gen_dir = resolve_model(pc.generator) if pc.generator else current_model(cfg, paths)
    template = TEMPLATE.read_text(encoding="utf-8")
    seed = stage_seed(cfg, paths, "self_instruct")
    rng = random.Random(seed)
    kept: list[str] = []
    index = NearDuplicateIndex(pc.max_similarity, seeds)  # seeds, then every prompt kept
    counts = {"generated": 0, "cut": 0, "length": 0, "bad_word": 0, "duplicate": 0, "similar": 0}
    max_tokens = min(MAX_INSTRUCTION_TOKENS, cfg.data.max_prompt_tokens)
    # each round is one engine call; no round asks for more than twice the prompts wanted
    per_round = min(items_per_call(pc.backend, cfg.generation.batch_size, cfg.generation.chunk_size), 2 * n)
    with open_engine(cfg, gen_dir, pc.backend) as engine:
        for round_ in range(max(4, 4 * n // per_round + 1)):
            batch = [few_shot_prompt(template, seeds, kept, rng, pc) for _ in range(per_round)]
            request_seeds = [derive_seed(seed, round_, i) for i in range(len(batch))]
            outs = engine.sample(batch, 1, max_tokens, pc.temperature, pc.top_p, request_seeds, stop=[NEXT_TASK])
            keep_new(outs, kept, index, excluded, pc, counts)
            if len(kept) >= n:
                break
    if not kept:
        raise SrlmError(f"iteration {paths.t}: self_instruct kept no prompt ({counts}); loosen prompts.* filters")
    rows = [{"prompt_id": f"si-{paths.t}-{i}", "prompt": p, "source": "self_instruct"} for i, p in enumerate(kept)]
    rows = rows[:n]
    counts["shortfall"] = report_shortfall(f"iteration {paths.t}: self_instruct prompts", len(rows), n)
    return rows, counts


def keep_new(
    outs: list[list[dict]], kept: list[str], index: NearDuplicateIndex, excluded: set[str], pc, counts: dict
) -> None:
    """Add the generated instructions that pass the filters to `kept` and `index`, counting why others were dropped.

    An instruction is every line the model wrote before starting the next `Task` line; one cut at the token limit
    (finish `length`) is dropped as `cut`.
    """
    for out in outs:
        text = NEXT_TASK_LINE.split(out[0]["text"])[0].strip()
        counts["generated"] += 1
        reason = "cut" if out[0]["finish_reason"] == "length" else keep_instruction(text, index, excluded, pc)
        if reason:
            counts[reason] += 1
        else:
            kept.append(text)
            index.add(text)


def few_shot_prompt(template: str, seeds: list[str], generated: list[str], rng: random.Random, pc) -> str:
    n_gen = min(pc.num_generated_shots, len(generated))
    shots = rng.sample(seeds, min(pc.num_shots - n_gen, len(seeds))) + rng.sample(generated, n_gen)
    examples = "".join(f"Task {i + 1}: {s}\n" for i, s in enumerate(shots))
    return fill(template, examples=examples, next_index=str(len(shots) + 1))


def run(cfg, paths) -> dict:
    excluded = excluded_prompts(cfg, paths)
    if enum_value(cfg.prompts.source) == "pool":
        rows, stats = from_pool(cfg, paths, excluded)
    else:
        rows, stats = self_instruct(cfg, paths, excluded)
    for r in rows:
        r["prompt_id"] = f"it{paths.t}-{r['prompt_id']}"
    write_jsonl(paths.prompts, rows)
    return {"prompts": len(rows), **stats}


if __name__ == "__main__":
    raise SystemExit(main("prompts"))
