"""Data sources: Open Assistant, prompt sets, eval sets, verifiable (IFEval-style) prompts."""
