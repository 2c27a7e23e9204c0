"""Generate: N candidate responses per prompt with M_t (through the engine, resumable, sharded over ranks).

`candidates.jsonl` lists the prompts in the order of `prompts.jsonl`, candidates 0..N-1 each,
whatever the number of processes that wrote it.

Run by hand: `python -m srlm.stages.generate RUN_DIR ITERATION`.
"""

from __future__ import annotations

import statistics

from srlm.core.io import read_jsonl
from srlm.inference.batches import RowPass, items_per_call, run_rows
from srlm.inference.engines import open_engine
from srlm.stages import current_model, main, stage_seed


def run(cfg, paths) -> dict:
    gen = cfg.generation
    prompts = read_jsonl(paths.prompts)
    engine = open_engine(cfg, current_model(cfg, paths), gen.backend)
    for p in prompts:
        p["chat"] = engine.chat(p["prompt"])

    def process(batch: list[dict], seeds: list[int]) -> list[dict]:
        outs = engine.sample(
            [p["chat"] for p in batch], gen.num_candidates, gen.max_new_tokens, gen.temperature, gen.top_p, seeds
        )
        return [
            {"prompt_id": p["prompt_id"], "candidate_id": f"{p['prompt_id']}/c{j}", "prompt": p["prompt"], **o}
            for p, cands in zip(batch, outs)
            for j, o in enumerate(cands)
        ]

    candidates = RowPass(
        prompts,
        process,
        seed=stage_seed(cfg, paths, "generate"),
        item_key=lambda p: p["prompt_id"],
        length=lambda p: len(p["chat"]),
        row_id=lambda r: r["candidate_id"],
        row_item=lambda r: r["prompt_id"],
        rows_per_item=gen.num_candidates,
        desc=f"generate (iteration {paths.t})",
    )
    position = {f"{p['prompt_id']}/c{j}": (i, j) for i, p in enumerate(prompts) for j in range(gen.num_candidates)}
    try:
        batch_size = items_per_call(gen.backend, gen.batch_size, gen.chunk_size)
        rows = run_rows(paths.candidates, [candidates], batch_size, order=lambda r: position[r["candidate_id"]])
    finally:
        engine.close()
    return candidate_stats(rows)


def candidate_stats(rows: list[dict]) -> dict:
    lengths = [r["completion_tokens"] for r in rows]
    return {
        "candidates": len(rows),
        "prompts": len({r["prompt_id"] for r in rows}),
        "mean_tokens": statistics.fmean(lengths) if lengths else 0.0,
        "truncated_fraction": sum(r["finish_reason"] == "length" for r in rows) / max(len(rows), 1),
    }


if __name__ == "__main__":
    raise SystemExit(main("generate"))
