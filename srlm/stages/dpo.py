"""DPO: TRL DPOTrainer on the iteration's pairs, reference = M_t (refreshed every iteration) -> M_{t+1}.

With LoRA the reference is M_t with the adapter disabled (no second copy) and the merged model is
saved. With `dpo.precompute_ref_log_probs` TRL computes the reference log-probs with the policy before
its first step (still M_t) and no reference model is loaded. The stage resumes from its last trainer
checkpoint (the precompute runs again on the freshly loaded M_t).

Run by hand: `python -m srlm.stages.dpo RUN_DIR ITERATION`.
"""

from __future__ import annotations

from datasets import Dataset

from srlm.io import read_jsonl
from srlm.models import load_model, load_tokenizer
from srlm.stages import current_model, main, stage_seed
from srlm.training import (
    CrashInjection,
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
            }
            for r in rows
        ]
    )


def run(cfg, paths) -> dict:
    from trl import DPOConfig, DPOTrainer

    m_t = current_model(cfg, paths)
    dc = cfg.dpo
    args = DPOConfig(
        **common_args(dc, cfg, paths.checkpoints, stage_seed(cfg, paths, "dpo")),
        beta=dc.beta,
        loss_type=list(dc.loss_type),
        precompute_ref_log_probs=dc.precompute_ref_log_probs,
        disable_dropout=cfg.model.dropout is None,  # with model.dropout the policy trains with it, as SFT did
    )
    lora = peft_config(cfg)
    policy = load_model(m_t, training_dtype(cfg), for_training=True, dropout=cfg.model.dropout)
    separate_reference = lora is None and not dc.precompute_ref_log_probs
    reference = load_model(m_t, cfg.model.dtype, for_training=True) if separate_reference else None
    dataset = dpo_dataset(paths)
    trainer = DPOTrainer(
        model=policy,
        ref_model=reference,
        args=args,
        train_dataset=dataset,
        processing_class=load_tokenizer(m_t, padding_side="right"),
        peft_config=lora,
        callbacks=[CrashInjection()],
    )
    refuse_sharded_lora(trainer)
    resume = last_checkpoint(paths.checkpoints)
    trainer.train(resume_from_checkpoint=resume)
    save_final_model(trainer, m_t, paths.model)
    return {"pairs": len(dataset), **train_metrics(trainer, LOGGED, resume)}


if __name__ == "__main__":
    raise SystemExit(main("dpo"))
