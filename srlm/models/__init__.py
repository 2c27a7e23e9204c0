"""Models: names to checkpoints, the embedded and tiny models, chat format, precision, loading."""
