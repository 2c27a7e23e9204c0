"""What people read: metrics.jsonl and wandb tracking, the HTML report, summaries."""
