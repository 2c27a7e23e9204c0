"""DPO: TRL DPOTrainer on the iteration's pairs, reference = M_t (refreshed every iteration) -> M_{t+1}.

With LoRA the reference is M_t with the adapter disabled (no second copy) and the merged model is
saved. With LoRA or `dpo.precompute_ref_log_probs` TRL computes the reference log-probs with the policy
before its first step (still M_t, in eval mode) and no reference model is loaded; a separate reference is
loaded in the policy's dtype (`srlm.training.reference`). The stage resumes from its last trainer checkpoint (the
precompute runs again on the freshly loaded M_t).

Run by hand: `python -m srlm.stages.dpo RUN_DIR ITERATION`.
"""

from __future__ import annotations

import math
import random

from datasets import Dataset

from srlm.core.io import read_jsonl
from srlm.evaluation import metrics
from srlm.models.loading import load_model, load_tokenizer
from srlm.stages import current_model, main, stage_seed
from srlm.training import reference
from srlm.training.trainers import (
    CrashInjection,
    ShareCheckpoints,
    StepLog,
    common_args,
    last_checkpoint,
    peft_config,
    refuse_sharded_lora,
    save_final_model,
    train_metrics,
    training_dtype,
)

LOGGED = ("rewards/accuracies", "rewards/margins", "rewards/chosen", "rewards/rejected")


def dpo_dataset(paths) -> Dataset:
    rows = read_jsonl(paths.pairs)
    return Dataset.from_list(
        [
            {
                "prompt": [{"role": "user", "content": r["prompt"]}],
                "chosen": [{"role": "assistant", "content": r["chosen"]}],
                "rejected": [{"role": "assistant", "content": r["rejected"]}],
                "kind": r.get("kind", "actor"),
            }
            for r in rows
        ]
    )


def over_length(pairs: Dataset, tokenizer, max_length: int) -> dict[str, int]:
    """Pairs of each kind whose prompt with its longer answer exceeds `dpo.max_length` tokens (TRL truncates
    them, and a truncated pair may lose what tells chosen from rejected)."""
    counts = {"actor_pairs_over_max_length": 0, "judge_pairs_over_max_length": 0}
    for row in pairs:
        longest = max(
            len(
                tokenizer(
                    tokenizer.apply_chat_template(row["prompt"] + row[side], tokenize=False), add_special_tokens=False
                )["input_ids"]
            )
            for side in ("chosen", "rejected")
        )
        counts[f"{row['kind']}_pairs_over_max_length"] += longest > max_length
    return counts


def split_held_out(
    pairs: Dataset, fraction: float, seed: int, max_judge_share: float = 1.0
) -> tuple[Dataset, Dataset | None]:
    """(training pairs, held-out pairs): `fraction` of each kind of pairs kept out of training (seeded).

    Judge pairs held out are rounded up and actor pairs held out are fewer where needed, so that the training
    pairs keep the judge share at most `max_judge_share` (the pairs stage capped it on all pairs).
    """
    kinds = pairs["kind"]
    index = {kind: [i for i, k in enumerate(kinds) if k == kind] for kind in ("actor", "judge")}
    n_judge = math.ceil(len(index["judge"]) * fraction)
    n_actor = round(len(index["actor"]) * fraction)
    judge_train = len(index["judge"]) - n_judge
    while n_actor > 0 and judge_train > max_judge_share * (len(index["actor"]) - n_actor + judge_train):
        n_actor -= 1
    if n_actor + n_judge < 2 or len(pairs) - n_actor - n_judge < 1:
        return pairs, None
    rng = random.Random(seed)
    held = set(rng.sample(index["actor"], n_actor)) | set(rng.sample(index["judge"], n_judge))
    return pairs.select([i for i in range(len(pairs)) if i not in held]), pairs.select(sorted(held))


def held_out_metrics(trainer, held_out: Dataset | None) -> dict:
    """DPO loss and implicit-reward accuracy of M_{t+1} (reference M_t) on pairs it was not trained on."""
    if held_out is None:
        return {}
    scores = trainer.evaluate()
    accuracy = scores["eval_rewards/accuracies"]
    n = len(held_out)
    return {
        "heldout_pairs": n,
        "heldout_loss": scores["eval_loss"],
        "heldout_rewards_accuracies": accuracy,
        "heldout_rewards_accuracies_interval": metrics.wilson_interval(round(accuracy * n), n),
        "heldout_rewards_margins": scores["eval_rewards/margins"],
    }


def run(cfg, paths) -> dict:
    from trl import DPOConfig, DPOTrainer

    m_t = current_model(cfg, paths)
    dc = cfg.dpo
    args = DPOConfig(
        **common_args(dc, cfg, paths.checkpoints, stage_seed(cfg, paths, "dpo")),
        beta=dc.beta,
        loss_type=list(dc.loss_type),
        precompute_ref_log_probs=reference.precomputed(cfg),
        disable_dropout=cfg.model.dropout is None,  # with model.dropout the policy trains with it, as SFT did
    )
    lora = peft_config(cfg)
    policy = load_model(m_t, training_dtype(cfg), for_training=True, dropout=cfg.model.dropout)
    reference.before_precompute(policy)
    cap = cfg.meta.max_judge_share if cfg.meta.enabled else 1.0
    train_pairs, held_out = split_held_out(
        dpo_dataset(paths), dc.eval_fraction, stage_seed(cfg, paths, "dpo-split"), cap
    )
    tokenizer = load_tokenizer(m_t, padding_side="right")
    kinds = {f"{k}_pairs": train_pairs["kind"].count(k) for k in ("actor", "judge")}
    kinds.update(over_length(train_pairs, tokenizer, dc.max_length))
    train_pairs, held_out = (d.remove_columns("kind") if d is not None else None for d in (train_pairs, held_out))
    trainer = DPOTrainer(
        model=policy,
        ref_model=reference.reference_model(cfg, m_t),
        args=args,
        train_dataset=train_pairs,
        eval_dataset=held_out,
        processing_class=tokenizer,
        peft_config=lora,
        callbacks=[ShareCheckpoints(), CrashInjection(), StepLog(paths.train_steps)],
    )
    refuse_sharded_lora(trainer)
    resume = last_checkpoint(paths.checkpoints)
    trainer.train(resume_from_checkpoint=resume)
    result = {
        "pairs": len(train_pairs),
        **kinds,
        **train_metrics(trainer, LOGGED, resume),
        **held_out_metrics(trainer, held_out),
    }
    save_final_model(trainer, m_t, paths.model)
    return result


if __name__ == "__main__":
    raise SystemExit(main("dpo"))
