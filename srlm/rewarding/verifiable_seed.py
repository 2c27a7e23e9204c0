"""Verifiable seed data (iteration 0): the base model answers verifiable prompts; the verifier scores the answers.

With `eft.verifiable` (a file in IFEval's schema), each of its first `eft.verifiable_max_prompts` prompts gets
`eft.verifiable_samples` answers from the base model (resumable: `eft_verifiable_answers.jsonl`). Every answer
becomes an EFT example whose verdict the project writes in the rubric's format: the instructions followed and
missed, in the registry's own words, then `Score: N` with N = 5 x the share followed, rounded; so the seed judge
learns to check constraints. With `eft.verifiable_ift`, one answer per prompt that follows every instruction
joins the IFT data.
"""

from __future__ import annotations

from srlm.core.seeds import derive_seed
from srlm.data.verifiable import load_verifiable, passed, registry, verify
from srlm.inference.batches import RowPass, items_per_call, run_rows
from srlm.inference.engines import open_engine
from srlm.models.resolve import model_path
from srlm.rewarding.templates import fill


def describe(instruction_id: str, kwargs: dict) -> str:
    """The instruction in the words of the registry's checker (`build_description`)."""
    checker = registry()[instruction_id](instruction_id)
    return checker.build_description(**{k: v for k, v in kwargs.items() if v is not None}).strip()


def written_verdict(row: dict, verdict: dict) -> tuple[str, int]:
    """(verdict text in the rubric's format, its score) for an answer the verifier checked."""
    followed, missed = [], []
    for instruction_id, kwargs, ok in zip(
        row["instruction_id_list"], row["kwargs"], verdict["follow_instruction_list"]
    ):
        (followed if ok else missed).append(describe(instruction_id, kwargs))
    total = len(verdict["follow_instruction_list"])
    score = round(5 * passed(verdict) / total)
    lines = [f"The question sets {total} explicit instruction(s); the response follows {passed(verdict)}."]
    lines += [f"Followed: {d}" for d in followed] + [f"Missed: {d}" for d in missed]
    return "\n".join(lines + [f"Score: {score}"]), score


def base_model_answers(cfg, paths, prompts: list[dict]) -> list[dict]:
    """`eft.verifiable_samples` answers per prompt from the base model (resumable, sharded over ranks)."""
    ec = cfg.eft
    engine = open_engine(cfg, model_path(cfg), ec.backend)
    gen = cfg.generation

    def process(batch, seeds):
        chats = [engine.chat(p["prompt"]) for p in batch]
        outs = engine.sample(chats, ec.verifiable_samples, gen.max_new_tokens, gen.temperature, gen.top_p, seeds)
        return [
            {"prompt_id": p["prompt_id"], "answer_id": f"{p['prompt_id']}/a{j}", "text": o["text"]}
            for p, answers in zip(batch, outs)
            for j, o in enumerate(answers)
        ]

    answers = RowPass(
        prompts,
        process,
        seed=derive_seed(cfg.seed, paths.t, "eft-verifiable"),
        item_key=lambda p: p["prompt_id"],
        length=lambda p: len(p["prompt"]),
        row_id=lambda r: r["answer_id"],
        row_item=lambda r: r["prompt_id"],
        rows_per_item=ec.verifiable_samples,
        desc="eft verifiable answers",
    )
    order = {p["prompt_id"]: i for i, p in enumerate(prompts)}
    try:
        return run_rows(
            paths.dir / "eft_verifiable_answers.jsonl",
            [answers],
            items_per_call(ec.backend, gen.batch_size, gen.chunk_size),
            order=lambda r: (order[r["prompt_id"]], r["answer_id"]),
        )
    finally:
        engine.close()


def verifiable_seed(cfg, paths, template: str) -> tuple[list[dict], list[dict], dict]:
    """(IFT examples, EFT examples, counts) from the verifiable prompts of `eft.verifiable`."""
    prompts, _ = load_verifiable(cfg.eft.verifiable)
    prompts = [{**p, "prompt_id": f"verifiable-{p['prompt_id']}"} for p in prompts[: cfg.eft.verifiable_max_prompts]]
    by_id = {p["prompt_id"]: p for p in prompts}
    ift, eft = {}, []
    for answer in base_model_answers(cfg, paths, prompts):
        row = by_id[answer["prompt_id"]]
        verdict = verify(row, answer["text"])
        text, score = written_verdict(row, verdict)
        user = fill(template, prompt=row["prompt"], response=answer["text"])
        eft.append(
            {
                "prompt_id": row["prompt_id"],
                "prompt": row["prompt"],
                "message_id": answer["answer_id"],
                "score": score,
                "messages": [{"role": "user", "content": user}, {"role": "assistant", "content": text}],
            }
        )
        if cfg.eft.verifiable_ift and all(verdict["follow_instruction_list"]):
            ift.setdefault(row["prompt_id"], chat_example(row, answer["text"]))
    counts = {"verifiable_prompts": len(prompts), "verifiable_eft": len(eft), "verifiable_ift": len(ift)}
    return list(ift.values()), eft, counts


def chat_example(row: dict, answer: str) -> dict:
    messages = [{"role": "user", "content": row["prompt"]}, {"role": "assistant", "content": answer}]
    return {"prompt_id": row["prompt_id"], "messages": messages}
