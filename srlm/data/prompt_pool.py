"""The prompt pool: its prompts, those held out for evaluation, and the check that it is large enough."""

from __future__ import annotations

from pathlib import Path

from srlm.config.run_config import enum_value
from srlm.core.errors import SrlmError
from srlm.core.io import read_jsonl
from srlm.data.eval_sets import load_prompt_set, read_rows
from srlm.data.oasst import first_turn_prompts, load_messages, ranked_responses
from srlm.data.prompt_sets import normalize
from srlm.data.verifiable import VERIFIABLE_FIELDS, check_rows, is_verifiable, report_left_out, supported_ids


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


def wanted(cfg, t: int) -> int:
    """New prompts iteration `t` asks for: its entry of `prompts.per_iteration_schedule` (the last one repeats past
    its end), else `prompts.per_iteration`."""
    schedule = cfg.prompts.per_iteration_schedule
    return schedule[min(max(t, 1), len(schedule)) - 1] if schedule else cfg.prompts.per_iteration
