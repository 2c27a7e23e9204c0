"""DPO's reference, exact: the same numbers as the policy at step 0, so TRL's DPO loss starts at ln 2.

- Same dtype: the reference loads in the policy's dtype (`srlm.training.trainers.training_dtype`) and computes
  under the same autocast. A bf16 reference against float32 weights under bf16 autocast differs in every norm
  and softmax.
- Deterministic: with LoRA the reference is the policy with its adapter off. TRL computes it inline while the
  policy is in train mode, so with `model.dropout` it would be a random reference; srlm has TRL precompute it
  once before training, with the model in eval mode (no dropout), then train. The cost is the same reference
  forward per pair (less with several epochs). A separate reference model is always in eval mode (TRL prepares
  it so), and a precomputed one without LoRA is computed in eval mode too.
"""

from __future__ import annotations

from srlm.models.loading import load_model
from srlm.training.trainers import training_dtype


def precomputed(cfg) -> bool:
    """Whether the reference log-probs are computed once before training (always with LoRA)."""
    return cfg.dpo.precompute_ref_log_probs or cfg.model.lora is not None


def reference_model(cfg, m_t: str):
    """M_t as a separate reference in the policy's dtype, or None where TRL needs none (LoRA, precomputed)."""
    if precomputed(cfg):
        return None
    return load_model(m_t, training_dtype(cfg), for_training=True).eval()


def before_precompute(policy) -> None:
    """Put the policy in eval mode: TRL precomputes the reference with the model as it is when the trainer is built
    (training switches it to train mode afterwards)."""
    policy.eval()
