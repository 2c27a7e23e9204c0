"""Length-controlled win rate: the alpaca-eval package's GLM on our pairs."""

import random

import pandas as pd
import pytest
import sklearn
from alpaca_eval.metrics import glm_winrate

from srlm.core.errors import SrlmError
from srlm.evaluation.length_control import _fit, length_controlled_win_rate


def _pairs(spec):
    """Pairs from (model_length, other_length, score) triples."""
    return [{"pair_id": f"p{i}", "model_length": m, "other_length": o, "score": s} for i, (m, o, s) in enumerate(spec)]


@pytest.mark.filterwarnings("ignore::FutureWarning")  # the package's scikit-learn arguments, deprecated in 1.8
def test_fit_equals_the_package_on_its_minimal_glm(tmp_path, monkeypatch):
    # `get_length_controlled_winrate` itself, on AlpacaEval annotations of the same pairs; the table it downloads
    # (instruction difficulty, unused by the minimal GLM) is written locally instead.
    rng = random.Random(0)
    spec = []
    for _ in range(30):
        m, o = rng.randint(100, 1500), rng.randint(100, 1500)
        spec.append((m, o, 1.0 if m - o + rng.gauss(0, 500) > 0 else rng.choice([0.0, 0.5])))
    table = tmp_path / "df_gamed.csv"
    pd.DataFrame({"model": "m", "index": range(30), "instruction_difficulty": 0.0}).to_csv(table, index=False)
    monkeypatch.setattr(glm_winrate, "hf_hub_download", lambda **kwargs: str(table))
    annotations = pd.DataFrame(
        {
            "instruction": [f"prompt {i}" for i in range(30)],
            "output_1": ["x" * o for _, o, _ in spec],
            "output_2": ["y" * m for m, _, _ in spec],
            "generator_1": "other",
            "generator_2": "model",
            "preference": [1.0 + s for _, _, s in spec],
        }
    )
    with sklearn.config_context():
        package = glm_winrate.get_length_controlled_winrate(
            annotations, glm_name="length_controlled_minimal", save_weights_dir=None, is_warn_extreme_changes=False
        )
    ours = _fit(_pairs(spec))
    assert 0.0 < ours < 1.0
    assert ours == pytest.approx(package["length_controlled_winrate"] / 100, abs=1e-9)


def test_equal_lengths_leave_the_win_rate():
    # With equal lengths the length feature tanh(0) is 0 on every pair, so the GLM is a logistic regression on
    # the model term alone: its maximum-likelihood prediction is the mean preference, i.e. the win rate. The L1
    # penalty can only pull it towards 0.5, and with 30 wins of 40 cross-validation keeps the penalty weak.
    scores = [1.0] * 30 + [0.0] * 10
    random.Random(1).shuffle(scores)
    pairs = [
        {"pair_id": f"p{i}", "model_text": "a" * 400, "other_text": "b" * 400, "score": s}
        for i, s in enumerate(scores)
    ]
    out = length_controlled_win_rate(pairs, seed=0, resamples=12)
    assert out["win_rate"] == 0.75 and out["pairs"] == 40
    assert 0.72 < out["lc_win_rate"] <= 0.75
    lo, hi = out["interval"]
    assert lo < out["lc_win_rate"] < hi


def test_winning_only_by_length_is_discounted():
    # The model wins the 24 pairs where its answer is about 1,000 characters longer and loses the 16 where both
    # are about as long: at equal length it would lose.
    long = [(1500 + 37 * i, 400 + 11 * i, 1.0) for i in range(24)]
    even = [(500 + 7 * i, 500 + 5 * (i % 4), 0.0) for i in range(16)]
    out = length_controlled_win_rate(_pairs(long + even), seed=0, resamples=10)
    assert out["win_rate"] == pytest.approx(0.6)
    assert out["lc_win_rate"] < 0.1
    assert out["interval"][0] <= out["lc_win_rate"] <= out["interval"][1] < 0.1
    assert length_controlled_win_rate(_pairs(long + even), seed=0, resamples=10) == out


def test_undefined_and_invalid():
    assert length_controlled_win_rate([]) == {"lc_win_rate": None, "win_rate": None, "interval": None, "pairs": 0}
    # Fewer pairs than the package's 5 cross-validation folds: the plain win rate only.
    few = length_controlled_win_rate(_pairs([(100, 50, 1.0), (80, 90, 0.5), (60, 60, 0.0)]))
    assert few == {"lc_win_rate": None, "win_rate": 0.5, "interval": None, "pairs": 3}
    # Always 100 characters longer: no pair at another length difference to tell length from quality.
    assert length_controlled_win_rate(_pairs([(200 + i, 100 + i, 1.0) for i in range(8)]))["lc_win_rate"] is None
    with pytest.raises(SrlmError, match="model_length"):
        length_controlled_win_rate([{"pair_id": "p", "score": 1.0, "other_length": 3}])
    with pytest.raises(SrlmError, match="score"):
        length_controlled_win_rate(_pairs([(1, 2, 2.0)]))
