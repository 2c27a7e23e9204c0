"""Inference: engines (HF, vLLM) and the one resumable loop that runs rows through them."""
