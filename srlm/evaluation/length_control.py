"""Length-controlled win rate (AlpacaEval 2) of the model under test against another model on the same prompts.

Fit with the `alpaca-eval` package's own GLM code (`alpaca_eval.metrics.glm_winrate`): its
"length_controlled_minimal" formula `np.tanh(std_delta_len) + not_gamed_baseline.astype(float) - 1`, built by
`make_dmatrix_for_model` and fit by `fit_LogisticRegressionCV` (L1-penalised logistic regression on soft
preferences, no separate intercept, strength chosen by 5-fold cross-validation grouped by pair). Per pair:
logit P(model wins) = theta + phi * tanh(d / std(d)), d = len(other) - len(model); the length-controlled win
rate is sigmoid(theta), the prediction at zero length difference.

The package's default GLM ("length_controlled_v1") does not fit our data. It downloads AlpacaEval's
`df_gamed.csv` from the Hub and gives each annotation the difficulty of an AlpacaEval instruction, looked up by
the annotation's DataFrame index: a fixed covariate precomputed from their leaderboard whose coefficient alone
is fit, neither learnt for nor zeroed on our prompts. It also adds AlpacaEval's annotations of length-gamed
baselines as training rows at weight 0.1. As `get_length_controlled_winrate` downloads that file for every GLM,
its featurisation (`_get_featurized_data`, step 2) is repeated here without the difficulty lookup: for one
model pair on our own prompts the difficulty term is dropped.
"""

from __future__ import annotations

import warnings

import numpy as np

from srlm.core.errors import SrlmError
from srlm.evaluation import metrics

GLM_NAME = "length_controlled_minimal"


def _length(pair: dict, side: str) -> float:
    if pair.get(f"{side}_length") is not None:
        return float(pair[f"{side}_length"])
    if pair.get(f"{side}_text") is not None:
        return float(len(pair[f"{side}_text"]))
    raise SrlmError(f"pair {pair.get('pair_id')!r} has neither {side}_length nor {side}_text")


def _score(pair: dict) -> float:
    score = float(pair["score"])
    if not 0.0 <= score <= 1.0:
        raise SrlmError(f"pair {pair.get('pair_id')!r}: score must be in [0, 1], got {score}")
    return score


def _fit(pairs: list[dict]) -> float | None:
    """Length-controlled win rate from the package's GLM fit on `pairs`.

    None with fewer pairs than the package's cross-validation folds, or when the length effect is not
    identifiable (every pair has the same non-zero length difference).
    """
    import pandas as pd
    import sklearn
    from alpaca_eval.metrics import glm_winrate as glm

    info = glm.GLM_INFO[GLM_NAME]
    if len(pairs) < info["kwargs"]["n_splits"]:
        return None
    # As in glm._get_featurized_data: output_1 is the other answer (the baseline), output_2 the model's.
    delta = pd.Series([_length(p, "other") - _length(p, "model") for p in pairs], dtype=float)
    std = delta.std()
    if not std > 0:
        if (delta != 0).any():
            return None
        std = 1.0  # all answers of equal length: the length feature is 0 everywhere
    train = pd.DataFrame(
        {"preference": [_score(p) for p in pairs], "std_delta_len": delta / std, "not_gamed_baseline": True}
    )
    test = train[["not_gamed_baseline"]].copy()
    test["std_delta_len"] = 0.0
    design, x_test = glm.make_dmatrix_for_model(train, test, formula=info["formula"])
    # The package turns sklearn's metadata routing on globally (config_context restores it) and passes
    # arguments scikit-learn 1.8 deprecates (`penalty=`: a FutureWarning and a UserWarning on every fit).
    with sklearn.config_context(), warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        warnings.filterwarnings("ignore", "Inconsistent values: penalty=", UserWarning)
        model = glm.fit_LogisticRegressionCV(design, "preference", is_ytrue_proba=True, **info["kwargs"])
    return float(model.predict_proba(x_test)[:, 1].mean())


def length_controlled_win_rate(pairs: list[dict], seed: int = 0, resamples: int = 1000, level: float = 0.95) -> dict:
    """AlpacaEval 2's length-controlled win rate of the model under test, with a bootstrap interval over pairs.

    Each pair has `pair_id`, `score` (the model's outcome over both orders in [0, 1], a tie 0.5: see
    `metrics.pair_scores`) and `model_length`/`other_length` or `model_text`/`other_text` (AlpacaEval counts
    characters). Returns `lc_win_rate` (None with fewer than 5 pairs or a constant non-zero length difference),
    `win_rate` (the package's `get_winrate`: the mean score), `interval` (95% percentile bootstrap of the
    length-controlled win rate over pairs, the whole GLM, cross-validation included, refit on every resample:
    about 60 ms a resample) and `pairs`.

    The package's L1 penalty also acts on the model term, so with little evidence (in a trial, 55% wins over 112
    pairs) cross-validation picks a strength that sets the length-controlled win rate to exactly 0.5, and
    otherwise shrinks it towards 0.5. Its folds (GroupKFold, no shuffling) follow the row order, so the pairs
    are fit in a random order drawn from `seed` (a bootstrap resample is in random order too).
    """
    from alpaca_eval.metrics.winrate import get_winrate

    if not pairs:
        return {"lc_win_rate": None, "win_rate": None, "interval": None, "pairs": 0}
    for p in pairs:  # fail on bad rows whether or not the GLM runs
        _length(p, "model"), _length(p, "other")
    # AlpacaEval's preference: 1 the baseline (other) wins, 2 the model wins, 1.5 a draw.
    plain = float(get_winrate([{"preference": 1.0 + _score(p)} for p in pairs])["win_rate"]) / 100
    lc = _fit([pairs[i] for i in np.random.default_rng(seed).permutation(len(pairs))])
    return {
        "lc_win_rate": lc,
        "win_rate": plain,
        "interval": metrics.bootstrap_interval(pairs, _fit, seed, resamples, level) if lc is not None else None,
        "pairs": len(pairs),
    }
