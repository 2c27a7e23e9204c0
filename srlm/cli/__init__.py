"""The `srlm` command."""
