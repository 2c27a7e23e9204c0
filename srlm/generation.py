"""Batched HF generation and scoring, and the resumable, seeded batch loop stages are built on.

Batches are formed once from the full, length-sorted item list, so a batch's content and its seed
(derived from the stage seed and the batch index) do not depend on what an earlier, interrupted
attempt finished: an interrupted and an unbroken run sample the same text for every row.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

import torch
from tqdm.auto import tqdm

from srlm.io import RowWriter
from srlm.vllm_engine import VllmEngine


def derive_seed(*parts) -> int:
    """A 31-bit seed from any parts (root seed, iteration, stage, batch...)."""
    return int(hashlib.sha256("/".join(map(str, parts)).encode()).hexdigest()[:8], 16) & 0x7FFFFFFF


def chat_prompt(tokenizer, user_text: str) -> str:
    """A user turn rendered with the model's chat template, ready for the assistant's reply."""
    return tokenizer.apply_chat_template(
        [{"role": "user", "content": user_text}], tokenize=False, add_generation_prompt=True
    )


def run_batches(
    items: Sequence[dict],
    item_key: Callable[[dict], str],
    length: Callable[[dict], int],
    batch_size: int,
    seed: int,
    writer: RowWriter,
    process: Callable[[list[dict]], list[dict]],
    row_id: Callable[[dict], str],
    row_item: Callable[[dict], str],
    rows_per_item: int,
    desc: str = "",
) -> list[dict]:
    """Process items in fixed, length-sorted batches, skipping batches whose rows are all written.

    `process(batch)` returns `rows_per_item` rows per item; `row_item(row)` names the item a row
    came from and `row_id(row)` identifies the row. A batch with any row missing is regenerated
    with the batch's own seed and only the missing rows are appended: no row is written twice.
    Under several processes, rank r takes batches r, r + world, ... (the writer knows its rank), so
    every batch has the same content and seed whatever the number of processes.
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
            torch.manual_seed(derive_seed(seed, index))
            rows = [r for r in process(batch) if row_id(r) not in written]
            writer.write(rows)
            written.update(row_id(r) for r in rows)
            for r in rows:
                per_item[row_item(r)] = per_item.get(row_item(r), 0) + 1
            bar.update(len(batch))
    return writer.rows


@torch.no_grad()
def sample(
    model,
    tokenizer,
    prompts: list[str],
    num_return_sequences: int,
    max_new_tokens: int,
    temperature: float,
    top_p: float,
    stop_strings: list[str] | None = None,
) -> list[list[dict]]:
    """Sample `num_return_sequences` continuations per prompt in one left-padded batch (KV cache on).

    Returns, per prompt, dicts with `text`, `prompt_tokens`, `completion_tokens`, `finish_reason`.
    `model` may also be a VllmEngine (generation.backend=vllm): the same call, served by vLLM.
    """
    if isinstance(model, VllmEngine):
        return model.sample(prompts, num_return_sequences, max_new_tokens, temperature, top_p, stop_strings)
    enc = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(model.device)
    do_sample = temperature > 0
    out = model.generate(
        **enc,
        do_sample=do_sample,
        temperature=temperature if do_sample else None,
        top_p=top_p if do_sample else None,
        top_k=None,
        max_new_tokens=max_new_tokens,
        num_return_sequences=num_return_sequences,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        use_cache=True,
        stop_strings=stop_strings,
        tokenizer=tokenizer if stop_strings else None,
    )
    new = out[:, enc.input_ids.shape[1] :]
    prompt_lens = enc.attention_mask.sum(dim=1).tolist()
    results: list[list[dict]] = [[] for _ in prompts]
    for i, seq in enumerate(new):
        ids = seq.tolist()
        stop_at = next((j for j, t in enumerate(ids) if t in (tokenizer.eos_token_id, tokenizer.pad_token_id)), None)
        finished = stop_at is not None
        ids = ids[:stop_at] if finished else ids
        text = tokenizer.decode(ids, skip_special_tokens=True)
        if stop_strings and not finished and any(text.rstrip().endswith(s) for s in stop_strings):
            finished = True
        results[i // num_return_sequences].append(
            {
                "text": text.strip(),
                "prompt_tokens": int(prompt_lens[i // num_return_sequences]),
                "completion_tokens": len(ids),
                "finish_reason": "stop" if finished else "length",
            }
        )
    return results


MIN_SHARED_PREFIX = 16  # tokens; below this, one padded pass is as cheap


@torch.no_grad()
def next_token_probs(model, tokenizer, texts: list[str], token_ids: list[int]) -> torch.Tensor:
    """Probabilities of `token_ids` as the next token after each text.

    Texts that share a long token prefix (the judge rubric) have it computed once: its KV cache is
    repeated over the batch and only each text's own suffix is run (right-padded, positions after
    the prefix), which is the same computation as one pass over each full text.
    """
    if isinstance(model, VllmEngine):
        return model.next_token_probs(texts, token_ids)
    ids = [tokenizer(t, add_special_tokens=False).input_ids for t in texts]
    shared = min(common_prefix_length(ids), min(map(len, ids)) - 1)
    if len(texts) < 2 or shared < MIN_SHARED_PREFIX:
        enc = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(model.device)
        logits = model(**enc).logits[:, -1, :].float()
        return torch.softmax(logits, dim=-1)[:, token_ids].cpu()
    cache = model(input_ids=torch.tensor([ids[0][:shared]], device=model.device), use_cache=True).past_key_values
    cache.batch_repeat_interleave(len(texts))
    suffixes = [i[shared:] for i in ids]
    width = max(map(len, suffixes))
    pad = tokenizer.pad_token_id
    input_ids = torch.tensor([s + [pad] * (width - len(s)) for s in suffixes], device=model.device)
    mask = torch.tensor([[1] * len(s) + [0] * (width - len(s)) for s in suffixes], device=model.device)
    out = model(
        input_ids=input_ids,
        attention_mask=torch.cat([torch.ones(len(texts), shared, dtype=mask.dtype, device=mask.device), mask], 1),
        position_ids=(shared + torch.arange(width, device=model.device)).expand(len(texts), -1),
        past_key_values=cache,
    )
    last = mask.sum(dim=1) - 1
    logits = out.logits[torch.arange(len(texts), device=model.device), last].float()
    return torch.softmax(logits, dim=-1)[:, token_ids].cpu()


def common_prefix_length(seqs: list[list[int]]) -> int:
    """Length of the longest prefix all sequences share."""
    n = 0
    for column in zip(*seqs):
        if any(t != column[0] for t in column):
            break
        n += 1
    return n


@torch.no_grad()
def sequence_logprobs(model, tokenizer, prompts: list[str], completions: list[str]) -> list[tuple[float, int]]:
    """Sum of log pi(completion | prompt) and the completion's token count, per pair (right padding)."""
    out = []
    for prompt, completion in zip(prompts, completions):
        p_ids = tokenizer(prompt, add_special_tokens=False).input_ids
        c_ids = tokenizer(completion, add_special_tokens=False).input_ids
        ids = torch.tensor([p_ids + c_ids], device=model.device)
        logits = model(input_ids=ids).logits[0, len(p_ids) - 1 : -1].float()
        logp = torch.log_softmax(logits, dim=-1).gather(1, ids[0, len(p_ids) :, None]).sum().item()
        out.append((logp, len(c_ids)))
    return out
