"""Evaluators: a local model (pointwise and pairwise judging) or an OpenAI-compatible endpoint."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

from srlm.core.errors import SrlmError
from srlm.core.resources import template
from srlm.inference.engines import open_engine
from srlm.models.resolve import resolve_model
from srlm.rewarding.scoring import cue_tokens, judge_expected, judge_pairwise, judge_sampled
from srlm.rewarding.templates import fill, load_template
from srlm.rewarding.verdicts import parse_verdict

PAIRWISE_TEMPLATE = template("judge_pairwise.txt")
VERDICT_TEMPLATE = template("judge_pairwise_verdict.txt")  # verdict line only
PAIR_FIELDS = ("{prompt}", "{response_a}", "{response_b}")
VERDICT_CUE = "Verdict: "


def verdict_tokens(tokenizer) -> tuple[str, tuple[int, ...]]:
    """The verdict cue and the token ids of `A` and `B` right after it, checked as the pointwise score cue is."""
    found = cue_tokens(tokenizer, VERDICT_CUE, ["A", "B"])
    if found is None:
        raise SrlmError(
            "eval.judge_mode=expected_score needs a tokenizer with one token each for A and B after `Verdict:`"
        )
    return found


class Evaluator:
    """A local model as judge: pointwise scores (the loop's judge code) and A/B verdicts.

    In `expected_score` mode the A/B verdict compares the probabilities of `A` and `B` after the `Verdict:` cue,
    asked for with a template that wants the verdict line only (no reasoning first), so every pair gets a verdict;
    in `sampled` mode a greedy verdict is parsed after the reasoning the template asks for.
    """

    def __init__(self, engine, cfg, mode: str, owns_engine: bool = False):
        self.engine, self.cfg, self.mode, self.owns_engine = engine, cfg, mode, owns_engine
        self.samples = cfg.eval.num_samples if mode == "sampled" else 1
        self.template = load_template(cfg.judge.template)
        pair_template = PAIRWISE_TEMPLATE if mode == "sampled" else VERDICT_TEMPLATE
        self.pair_template = load_template(str(pair_template), PAIR_FIELDS)

    def pointwise(self, items: list[dict], seeds: list[int]) -> list[dict]:
        if self.mode == "sampled":
            return judge_sampled(self.engine, self.template, items, self.samples, self.cfg.judge, seeds)
        return judge_expected(self.engine, self.template, items, self.cfg.judge)

    def pairwise(self, items: list[dict]) -> list[dict]:
        if self.mode == "sampled":
            return judge_pairwise(self.engine, self.pair_template, items, self.cfg.judge)
        cue, ids = verdict_tokens(self.engine.tokenizer)
        prompts = [
            self.engine.chat(fill(self.pair_template, **{k: it[k] for k in ("prompt", "response_a", "response_b")}))
            + cue
            for it in items
        ]
        probs = self.engine.next_token_probs(prompts, list(ids)).tolist()
        return [
            {
                "id": it["id"],
                "verdict": "A" if a > b else "B" if b > a else None,
                "p_a": a,
                "p_b": b,
                "raw": f"P(A)={a:.4f} P(B)={b:.4f}",
            }
            for it, (a, b) in zip(items, probs)
        ]

    def close(self) -> None:
        """Free the evaluator's model when it loaded one of its own."""
        if self.owns_engine:
            self.engine.close()


class EndpointEvaluator:
    """A/B verdicts from an OpenAI-compatible chat-completions endpoint (the `openai` client: timeouts,
    retries with backoff, `eval.endpoint_concurrency` requests in flight)."""

    def __init__(self, cfg):
        from openai import OpenAI

        ec = cfg.eval
        if not ec.endpoint_url or not ec.endpoint_model:
            raise SrlmError("eval.evaluator=endpoint needs eval.endpoint_url and eval.endpoint_model")
        self.url, self.model, self.retries = ec.endpoint_url, ec.endpoint_model, ec.endpoint_retries
        self.concurrency = ec.endpoint_concurrency
        self.client = OpenAI(
            base_url=ec.endpoint_url,
            api_key=os.environ.get(ec.endpoint_key_env) or "EMPTY",  # servers without keys (vLLM) ignore it
            timeout=ec.endpoint_timeout_s,
            max_retries=ec.endpoint_retries,
        )
        self.pair_template = load_template(str(PAIRWISE_TEMPLATE), PAIR_FIELDS)
        self.mode, self.samples = "sampled", 1

    def close(self) -> None:
        self.client.close()

    def _complete(self, content: str) -> str:
        import openai

        try:
            reply = self.client.chat.completions.create(
                model=self.model, messages=[{"role": "user", "content": content}], temperature=0
            )
        except openai.APIError as e:
            raise SrlmError(
                f"evaluator endpoint {self.url} failed after {self.retries} retries: {type(e).__name__}: {e}"
            ) from None
        return reply.choices[0].message.content or ""

    def pairwise(self, items: list[dict]) -> list[dict]:
        prompts = [
            fill(self.pair_template, prompt=it["prompt"], response_a=it["response_a"], response_b=it["response_b"])
            for it in items
        ]
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            texts = list(pool.map(self._complete, prompts))
        return [{"id": it["id"], "verdict": parse_verdict(text), "raw": text} for it, text in zip(items, texts)]


def make_evaluator(cfg, paths, own_engine):
    """The win-rate judge: `seed` (M_1, fixed across iterations), `self`, `endpoint`, or a model path/hub id.

    A model evaluator gets an engine of its own (close the evaluator to free it); `self` shares `own_engine`.
    """
    from srlm.config.run_config import enum_value

    mode = enum_value(cfg.eval.judge_mode)
    name = cfg.eval.evaluator
    if name == "endpoint":
        return EndpointEvaluator(cfg)
    if name == "self":
        return Evaluator(own_engine, cfg, mode)
    path = str(paths.run.iteration(0).model) if name == "seed" else resolve_model(name)
    return Evaluator(open_engine(cfg, path, cfg.eval.backend), cfg, mode, owns_engine=True)
