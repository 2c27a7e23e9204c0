"""Benchmarks of srlm's stages against plain baselines: `python -m benchmarks.run --help` (or `./launch.sh bench`).

Results go to `benchmarks/results/<date>-<machine>.json`, with a short table on stdout.
"""
