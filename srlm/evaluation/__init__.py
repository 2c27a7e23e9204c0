"""Evaluation: metrics with intervals, eval tasks, judges as evaluators, IFEval, reward audit."""
