"""`python -m srlm ...` is the same as the `srlm` command."""

from srlm.cli.main import main

if __name__ == "__main__":
    raise SystemExit(main())
