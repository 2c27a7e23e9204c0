"""Training: TRL trainers for SFT and DPO, the DPO reference model."""
