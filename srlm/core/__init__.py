"""Foundations every layer uses: errors, I/O, seeds, ranks, run-directory paths, shipped resources."""
