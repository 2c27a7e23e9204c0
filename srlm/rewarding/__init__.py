"""LLM-as-a-judge: templates, verdict parsing, scoring, meta-judging, pair rules and sources."""
