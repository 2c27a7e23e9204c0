"""The HF engine: transformers models, batched with left padding and a KV cache, on this rank's device.

Sampling draws from torch's generator seeded by the batch's request seeds, so a batch samples the
same text whenever it is run (batches are fixed by `srlm.inference.batches`). Prompts that share a long token
prefix (the judge rubric) have it computed once for `next_token_probs`.
"""

from __future__ import annotations

import torch

from srlm.core.seeds import derive_seed
from srlm.inference.engines.base import Engine, cut_after_stop, finish_reason
from srlm.models.loading import load_model, load_tokenizer

MIN_SHARED_PREFIX = 16  # tokens; below this, one padded pass is as cheap


class HfEngine(Engine):
    backend = "hf"

    def __init__(self, path: str, dtype: str = "auto", model=None, tokenizer=None):
        super().__init__(path, tokenizer or load_tokenizer(path))
        self.model = model if model is not None else load_model(path, dtype)

    def max_context(self) -> int | None:
        return None  # transformers runs a longer sequence (RoPE goes on past max_position_embeddings)

    def _left_padded(self, ids: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        width = max(map(len, ids))
        pad = self.tokenizer.pad_token_id
        input_ids = torch.tensor([[pad] * (width - len(i)) + i for i in ids], device=self.model.device)
        mask = torch.tensor([[0] * (width - len(i)) + [1] * len(i) for i in ids], device=self.model.device)
        return input_ids, mask

    @torch.no_grad()
    def sample(self, prompts, n, max_new_tokens, temperature, top_p, seeds, stop=None):
        ids = self.encode(prompts)
        input_ids, mask = self._left_padded(ids)
        stops = self.stop_strings(stop)
        torch.manual_seed(derive_seed(*seeds))
        do_sample = temperature > 0
        out = self.model.generate(
            input_ids=input_ids,
            attention_mask=mask,
            do_sample=do_sample,
            temperature=temperature if do_sample else None,
            top_p=top_p if do_sample else None,
            top_k=None,
            max_new_tokens=max_new_tokens,
            num_return_sequences=n,
            pad_token_id=self.tokenizer.pad_token_id,
            eos_token_id=self.eos_ids,
            use_cache=True,
            stop_strings=stops,
            tokenizer=self.tokenizer if stops else None,
        )
        results: list[list[dict]] = [[] for _ in prompts]
        for i, seq in enumerate(out[:, input_ids.shape[1] :].tolist()):
            stop_at = next((j for j, t in enumerate(seq) if t in self.eos_ids), None)
            new = seq[:stop_at] if stop_at is not None else seq
            text = self.tokenizer.decode(new, skip_special_tokens=True)
            stopped = stop_at is not None or any(s in text for s in stops or ())
            text = cut_after_stop(self.end_turn(text), stop)
            results[i // n].append(
                {
                    "text": text.strip(),
                    "prompt_tokens": len(ids[i // n]),
                    "completion_tokens": len(new),
                    "finish_reason": finish_reason(stopped),
                }
            )
        return results

    @torch.no_grad()
    def next_token_probs(self, texts, token_ids):
        ids = self.encode(texts)
        shared = min(common_prefix_length(ids), min(map(len, ids)) - 1)
        if len(texts) < 2 or shared < MIN_SHARED_PREFIX:
            input_ids, mask = self._left_padded(ids)
            logits = self.model(input_ids=input_ids, attention_mask=mask).logits[:, -1, :].float()
            return torch.softmax(logits, dim=-1)[:, token_ids].cpu()
        return self._probs_after_shared_prefix(ids, shared, token_ids)

    def _probs_after_shared_prefix(self, ids, shared, token_ids):
        """Run the shared prefix once, repeat its KV cache over the batch, then each text's own suffix."""
        model, n = self.model, len(ids)
        cache = model(input_ids=torch.tensor([ids[0][:shared]], device=model.device), use_cache=True).past_key_values
        cache.batch_repeat_interleave(n)
        suffixes = [i[shared:] for i in ids]
        width = max(map(len, suffixes))
        pad = self.tokenizer.pad_token_id
        input_ids = torch.tensor([s + [pad] * (width - len(s)) for s in suffixes], device=model.device)
        mask = torch.tensor([[1] * len(s) + [0] * (width - len(s)) for s in suffixes], device=model.device)
        out = model(
            input_ids=input_ids,
            attention_mask=torch.cat([torch.ones(n, shared, dtype=mask.dtype, device=mask.device), mask], 1),
            position_ids=(shared + torch.arange(width, device=model.device)).expand(n, -1),
            past_key_values=cache,
        )
        logits = out.logits[torch.arange(n, device=model.device), mask.sum(dim=1) - 1].float()
        return torch.softmax(logits, dim=-1)[:, token_ids].cpu()

    @torch.no_grad()
    def sequence_logprobs(self, sequences, starts):
        width = max(map(len, sequences))
        pad = self.tokenizer.pad_token_id
        input_ids = torch.tensor([s + [pad] * (width - len(s)) for s in sequences], device=self.model.device)
        mask = torch.tensor([[1] * len(s) + [0] * (width - len(s)) for s in sequences], device=self.model.device)
        logits = self.model(input_ids=input_ids, attention_mask=mask).logits
        out = []
        for row, (seq, start) in enumerate(zip(sequences, starts)):
            logp = torch.log_softmax(logits[row, start - 1 : len(seq) - 1].float(), dim=-1)
            targets = torch.tensor(seq[start:], device=logp.device, dtype=torch.long)
            out.append((logp.gather(1, targets[:, None]).sum().item(), len(seq) - start))
        return out

    def close(self) -> None:
        self.model = None
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def common_prefix_length(seqs: list[list[int]]) -> int:
    """Length of the longest prefix all sequences share."""
    n = 0
    for column in zip(*seqs):
        if any(t != column[0] for t in column):
            break
        n += 1
    return n
