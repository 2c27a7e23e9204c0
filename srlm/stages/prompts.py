"""Prompts: a pool of new prompts for the iteration, none reused across iterations, none from eval sets.

`prompts.source=pool` takes them from a data set (by default OASST first-turn prompts not used for
IFT/EFT); `self_instruct` generates them few-shot from the seed prompts (paper: 8-shot, 6 seed +
2 generated, T=0.6, top-p 0.9) and filters near-duplicates, length and bad keywords.

Run by hand: `python -m srlm.stages.prompts RUN_DIR ITERATION`.
"""

from __future__ import annotations

import random
from pathlib import Path

from srlm.batches import items_per_call
from srlm.config import enum_value
from srlm.engine import open_engine
from srlm.errors import SrlmError
from srlm.eval_sets import load_prompt_set, read_rows
from srlm.io import read_jsonl, write_jsonl
from srlm.judge import fill
from srlm.models import load_tokenizer, resolve_model
from srlm.near_duplicates import NearDuplicateIndex
from srlm.oasst import first_turn_prompts, load_messages, ranked_responses
from srlm.prompt_sets import normalize, report_too_long, too_long, training_prompts
from srlm.seeds import derive_seed
from srlm.stages import current_model, main, stage_seed

TEMPLATE = Path(__file__).resolve().parent.parent / "templates" / "self_instruct.txt"


def excluded_prompts(cfg, paths) -> set[str]:
    """Normalized prompts that must not be used: training data's, earlier iterations', eval sets'."""
    seen = training_prompts(paths.run, upto=paths.t - 1)
    eft_eval = paths.run.iteration(0).eft_eval
    if eft_eval.exists():
        seen |= {normalize(r["prompt"]) for r in read_jsonl(eft_eval)}
    if cfg.data.eval_prompts and Path(cfg.data.eval_prompts).exists():
        seen |= {normalize(r["prompt"]) for r in load_prompt_set(cfg.data.eval_prompts)}
    if cfg.eval.rewardbench and Path(cfg.eval.rewardbench).exists():  # a hub set is checked by eval alone
        seen |= {normalize(r["prompt"]) for r in read_rows(cfg.eval.rewardbench, "filtered", "RewardBench")}
    return seen


def pool_prompts(cfg) -> list[dict]:
    pc = cfg.prompts
    if pc.pool is None:
        messages = load_messages(cfg.data.oasst, cfg.data.oasst_split)
        ranked = {r["prompt_id"] for r in ranked_responses(messages, cfg.data.lang)}
        return [
            {"prompt_id": m["message_id"], "prompt": m["text"]}
            for m in first_turn_prompts(messages, cfg.data.lang)
            if m["message_id"] not in ranked
        ]
    path = Path(pc.pool).expanduser()
    if path.exists():
        rows = read_jsonl(path)
    elif path.suffix in (".jsonl", ".json", ".parquet") or pc.pool.startswith((".", "/", "~")):
        raise SrlmError(f"{path}: prompt pool file not found (prompts.pool)")
    else:
        import datasets

        rows = list(datasets.load_dataset(pc.pool, split="train"))
    if not rows:
        raise SrlmError(f"{pc.pool}: no prompts (prompts.pool)")
    out, seen = [], set()
    for i, r in enumerate(rows):
        if pc.pool_field not in r:
            raise SrlmError(f"{pc.pool}:{i + 1}: no field `{pc.pool_field}` (set prompts.pool_field)")
        if not isinstance(r[pc.pool_field], str) or not r[pc.pool_field].strip():
            raise SrlmError(f"{pc.pool}:{i + 1}: empty prompt in `{pc.pool_field}`")
        prompt_id = str(r.get("prompt_id", r.get("id", f"pool-{i}")))
        if prompt_id in seen:
            raise SrlmError(f"{pc.pool}:{i + 1}: duplicate id {prompt_id!r} (candidates of two prompts would merge)")
        seen.add(prompt_id)
        out.append({"prompt_id": prompt_id, "prompt": r[pc.pool_field]})
    return out


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
    return [{**p, "source": "pool"} for p in chosen], stats


def fitting_prompts(cfg, paths, pool: list[dict]) -> tuple[list[dict], int]:
    """The first `prompts.per_iteration` prompts of `pool` within `data.max_prompt_tokens`, and how many were not."""
    limit = cfg.data.max_prompt_tokens
    tokenizer = load_tokenizer(current_model(cfg, paths))
    chosen, skipped = [], 0
    for p in pool:
        if len(chosen) == cfg.prompts.per_iteration:
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
    pc = cfg.prompts
    seeds = [r["messages"][0]["content"] for r in read_jsonl(paths.run.iteration(0).ift)]
    if not seeds:
        raise SrlmError(f"{paths.run.iteration(0).ift}: no seed prompts for self_instruct")
    gen_dir = resolve_model(pc.generator) if pc.generator else current_model(cfg, paths)
    template = TEMPLATE.read_text(encoding="utf-8")
    seed = stage_seed(cfg, paths, "self_instruct")
    rng = random.Random(seed)
    kept: list[str] = []
    index = NearDuplicateIndex(pc.max_similarity, seeds)  # seeds, then every prompt kept
    counts = {"generated": 0, "length": 0, "bad_word": 0, "duplicate": 0, "similar": 0}
    # each round is one engine call; no round asks for more than twice the prompts wanted
    per_round = min(
        items_per_call(pc.backend, cfg.generation.batch_size, cfg.generation.chunk_size), 2 * pc.per_iteration
    )
    with open_engine(cfg, gen_dir, pc.backend) as engine:
        for round_ in range(max(4, 4 * pc.per_iteration // per_round + 1)):
            batch = [few_shot_prompt(template, seeds, kept, rng, pc) for _ in range(per_round)]
            request_seeds = [derive_seed(seed, round_, i) for i in range(len(batch))]
            outs = engine.sample(batch, 1, 64, pc.temperature, pc.top_p, request_seeds)
            keep_new(outs, kept, index, excluded, pc, counts)
            if len(kept) >= pc.per_iteration:
                break
    if not kept:
        raise SrlmError(f"iteration {paths.t}: self_instruct kept no prompt ({counts}); loosen prompts.* filters")
    rows = [{"prompt_id": f"si-{paths.t}-{i}", "prompt": p, "source": "self_instruct"} for i, p in enumerate(kept)]
    return rows[: pc.per_iteration], counts


def keep_new(
    outs: list[list[dict]], kept: list[str], index: NearDuplicateIndex, excluded: set[str], pc, counts: dict
) -> None:
    """Add the generated instructions that pass the filters to `kept` and `index`, counting why others were dropped."""
    for out in outs:
        text = out[0]["text"].split("\n")[0].split("Task ")[0].strip()
        counts["generated"] += 1
        reason = keep_instruction(text, index, excluded, pc)
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
