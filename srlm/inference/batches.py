"""The resumable, seeded batch loop every model-running stage is built on: `run_rows`.

Batches are formed once from the full, length-sorted item list, and every item's seed derives from
the stage seed and the item's key, so an interrupted and an unbroken run give the same rows: the HF
engine seeds a batch from its items' seeds (batch content is fixed), vLLM seeds each request. A batch is one
engine call (`items_per_call`): a chunk of hundreds of items for vLLM, a device batch for HF.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from srlm.core import distributed
from srlm.core.io import RowWriter
from srlm.core.seeds import derive_seed


def items_per_call(backend: str, batch_size: int, chunk_size: int) -> int:
    """Items one engine call gets: a whole chunk for vLLM, whose continuous batching wants hundreds of sequences in
    flight; `batch_size` items of similar length for HF, which pads a call into one batch. Rows are written after
    every call, so a kill loses one call's rows at most."""
    return chunk_size if backend == "vllm" else batch_size


def run_batches(
    items: Sequence[dict],
    item_key: Callable[[dict], str],
    length: Callable[[dict], int],
    batch_size: int,
    seed: int,
    writer: RowWriter,
    process: Callable[[list[dict], list[int]], list[dict]],
    row_id: Callable[[dict], str],
    row_item: Callable[[dict], str],
    rows_per_item: int,
    desc: str = "",
) -> list[dict]:
    """Process items in fixed, length-sorted batches, skipping batches whose rows are all written.

    `process(batch, seeds)` returns `rows_per_item` rows per item (`seeds[i]` is item i's seed);
    `row_item(row)` names the item a row came from and `row_id(row)` identifies the row. A batch with
    any row missing is run again and only the missing rows are appended: no row is written twice.
    Under several processes, rank r takes batches r, r + world, ... (the writer knows its rank), so
    every batch has the same content and seeds whatever the number of processes.
    """
    written = {row_id(r) for r in writer.rows}
    per_item: dict[str, int] = {}
    for r in writer.rows:
        per_item[row_item(r)] = per_item.get(row_item(r), 0) + 1
    ordered = sorted(items, key=lambda it: (-length(it), item_key(it)))
    batches = [ordered[i : i + batch_size] for i in range(0, len(ordered), batch_size)]
    mine = sum(len(b) for i, b in enumerate(batches) if i % writer.world_size == writer.rank)
    rank_desc = f"{desc} [rank {writer.rank}/{writer.world_size}]" if writer.world_size > 1 else desc
    with tqdm(total=mine, desc=rank_desc, unit="item", disable=None) as bar:
        for index, batch in enumerate(batches):
            if index % writer.world_size != writer.rank:
                continue
            if all(per_item.get(item_key(it), 0) >= rows_per_item for it in batch):
                bar.update(len(batch))
                continue
            seeds = [derive_seed(seed, item_key(it)) for it in batch]
            rows = [r for r in process(batch, seeds) if row_id(r) not in written]
            writer.write(rows)
            written.update(row_id(r) for r in rows)
            for r in rows:
                per_item[row_item(r)] = per_item.get(row_item(r), 0) + 1
            bar.update(len(batch))
    return writer.rows


@dataclass
class RowPass:
    """One pass of `items` through `process(batch, seeds)` (the arguments of `run_batches`)."""

    items: Sequence[dict]
    process: Callable[[list[dict], list[int]], list[dict]]
    seed: int
    item_key: Callable[[dict], str]
    length: Callable[[dict], int]
    row_id: Callable[[dict], str]
    row_item: Callable[[dict], str]
    rows_per_item: int = 1
    desc: str = ""


def run_rows(out: Path, passes: Sequence[RowPass], batch_size: int, order: Callable | None = None) -> list[dict]:
    """Every pass's rows written to `out` as they finish, resumably and sharded over ranks; rank 0 merges the
    ranks' rows into `out` (in `order`, else as written) and every rank returns them."""
    writer = RowWriter(out, distributed.rank(), distributed.world_size())
    try:
        for p in passes:
            run_batches(
                p.items,
                p.item_key,
                p.length,
                batch_size,
                p.seed,
                writer,
                p.process,
                p.row_id,
                p.row_item,
                p.rows_per_item,
                p.desc,
            )
    finally:
        writer.close()
    return writer.finish(order=order)
