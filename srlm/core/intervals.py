"""Intervals every layer may attach to a proportion."""

from __future__ import annotations


def wilson_interval(successes: int, n: int) -> list[float] | None:
    """95% Wilson interval of a proportion (scipy's binomtest), None for no trials."""
    if n == 0:
        return None
    from scipy.stats import binomtest

    ci = binomtest(successes, n).proportion_ci(confidence_level=0.95, method="wilson")
    return [float(ci.low), float(ci.high)]
