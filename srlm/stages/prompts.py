"""Prompts: a pool of new prompts for the iteration, none reused across iterations, none from eval sets.

`prompts.source=pool` takes them from a data set (by default OASST first-turn prompts not used for
IFT/EFT); `self_instruct` generates them few-shot from the seed prompts (paper: 8-shot, 6 seed +
2 generated, T=0.6, top-p 0.9) and filters near-duplicates, length and bad keywords.

Run by hand: `python -m srlm.stages.prompts RUN_DIR ITERATION`.
"""

from __future__ import annotations

import random
import re
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
from srlm.prompt_sets import normalize, report_shortfall, report_too_long, too_long, training_prompts
from srlm.seeds import derive_seed
from srlm.stages import current_model, main, stage_seed
from srlm.verifiable import VERIFIABLE_FIELDS, check_rows, is_verifiable, report_left_out, supported_ids

TEMPLATE = Path(__file__).resolve().parent.parent / "templates" / "self_instruct.txt"
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


def held_out_prompts(cfg, hub: bool = True) -> set[str]:
    """Normalized prompts of the eval sets; a RewardBench set on the hub only with `hub`."""
    seen: set[str] = set()
    if cfg.data.eval_prompts and Path(cfg.data.eval_prompts).exists():
        seen |= {normalize(r["prompt"]) for r in load_prompt_set(cfg.data.eval_prompts)}
    if cfg.eval.ifeval and Path(cfg.eval.ifeval).exists():
        seen |= {normalize(r["prompt"]) for r in read_jsonl(Path(cfg.eval.ifeval))}
    if cfg.eval.rewardbench and (hub or Path(cfg.eval.rewardbench).exists()):  # hub: from the datasets cache
        seen |= {normalize(r["prompt"]) for r in read_rows(cfg.eval.rewardbench, "filtered", "RewardBench")}
    return seen


def check_pool_size(cfg) -> None:
    """Refuse a local pool with fewer prompts apart from the eval sets than every iteration takes (no prompt is
    used twice); prompts that training or the length limit take out are counted when each iteration starts."""
    source = cfg.prompts.pool or cfg.data.oasst
    if enum_value(cfg.prompts.source) != "pool" or not Path(source).expanduser().is_file():
        return
    unused = {normalize(p["prompt"]) for p in pool_prompts(cfg)} - held_out_prompts(cfg, hub=False)
    needed = sum(wanted(cfg, t) for t in range(1, cfg.num_iterations + 1))
    if len(unused) < needed:
        key = "prompts.pool" if cfg.prompts.pool else "data.oasst"
        raise SrlmError(
            f"`{key}`: {source} holds {len(unused)} prompts apart from the eval sets; the iterations take {needed} "
            "(prompts.per_iteration or its schedule x num_iterations; none is used twice): add prompts, lower "
            "prompts.per_iteration or num_iterations, or use prompts.source=self_instruct"
        )


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
    check_rows(pc.pool, rows)
    out, seen, left_out = [], set(), {}
    for i, r in enumerate(rows):
        if pc.pool_field not in r:
            raise SrlmError(f"{pc.pool}:{i + 1}: no field `{pc.pool_field}` (set prompts.pool_field)")
        if not isinstance(r[pc.pool_field], str) or not r[pc.pool_field].strip():
            raise SrlmError(f"{pc.pool}:{i + 1}: empty prompt in `{pc.pool_field}`")
        prompt_id = str(r.get("prompt_id", r.get("id", r.get("key", f"pool-{i}"))))
        if prompt_id in seen:
            raise SrlmError(f"{pc.pool}:{i + 1}: duplicate id {prompt_id!r} (candidates of two prompts would merge)")
        seen.add(prompt_id)
        unsupported = [x for x in r.get("instruction_id_list", ()) if x not in supported_ids()]
        for x in unsupported:
            left_out[x] = left_out.get(x, 0) + 1
        if not unsupported:
            out.append({"prompt_id": prompt_id, "prompt": r[pc.pool_field], **verifiable_fields(r)})
    report_left_out(pc.pool, left_out)
    return out


def verifiable_fields(row: dict) -> dict:
    """IFEval's `instruction_id_list` and `kwargs` of a verifiable pool row, carried to the candidates' verifier."""
    return {k: row[k] for k in VERIFIABLE_FIELDS} if is_verifiable(row) else {}


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


def wanted(cfg, t: int) -> int:
    """New prompts iteration `t` asks for: its entry of `prompts.per_iteration_schedule` (the last one repeats past
    its end), else `prompts.per_iteration`."""
    schedule = cfg.prompts.per_iteration_schedule
    return schedule[min(max(t, 1), len(schedule)) - 1] if schedule else cfg.prompts.per_iteration


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
