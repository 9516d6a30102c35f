"""Finder ranking across a sweep: Spearman with held-out bot imitability per model and pooled, bootstrap
intervals over units resampled within models, the own-bot exclusion for imitability finders, the plot."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from mirrorneuron.analysis import sweep_finders as sf
from mirrorneuron.analysis.sweep_finders import (
    POOLED,
    finder_correlations,
    imitability_targets,
    own_bot,
    plot_finder_ranking,
    rank_finders,
)


def synthetic(seed: int = 0, models: int = 4, units: int = 30) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Plays of unigram/kNN/ridge/mean at levels 0–3 and finders: ``good`` (imitability + small noise),
    ``inverse`` (minus it), ``random``, and ``imitability_knn_l1`` = the kNN bot's own score exactly."""
    rng = np.random.default_rng(seed)
    plays, scores, truth = [], [], []
    for m in range(models):
        for u in range(units):
            unit = f"m{m}/s/neuron/{u}"
            per_bot = {b: rng.uniform(-0.2, 1.0) for b in ("unigram", "knn", "ridge")}
            for level in range(4):
                for bot, c in [*per_bot.items(), ("mean", 0.0)]:
                    plays.append({"model": f"m{m}", "unit": unit, "level": level, "bot": bot, "correlation": c})
            target = float(np.mean(list(per_bot.values())))
            truth.append({"model": f"m{m}", "unit_id": unit, "imitability": target})
            for finder, score in (
                ("good", target + rng.normal(0, 0.05)),
                ("inverse", -target),
                ("random", rng.random()),
                ("imitability_knn_l1", per_bot["knn"]),
            ):
                scores.append({"unit_id": unit, "model": f"m{m}", "finder": finder, "score": score})
    return pd.DataFrame(scores), pd.DataFrame(plays), pd.DataFrame(truth)


def test_the_target_is_the_mean_of_the_bots_at_levels_0_to_2() -> None:
    _, plays, truth = synthetic(models=2, units=5)
    plays.loc[plays["level"] == 3, "correlation"] = 99.0  # level 3 and the mean bot must not count
    got = imitability_targets(plays).merge(truth, on=["model", "unit_id"])
    assert np.allclose(got["imitability_x"], got["imitability_y"])


def test_spearman_per_model_and_pooled_with_intervals() -> None:
    scores, plays, truth = synthetic()
    corr = finder_correlations(scores, plays, n_boot=200)
    good = corr[(corr["finder"] == "good") & (corr["scope"] == POOLED)].iloc[0]
    joined = scores[scores["finder"] == "good"].merge(truth, on=["model", "unit_id"])
    assert good["spearman"] == pytest.approx(spearmanr(joined["score"], joined["imitability"]).statistic)
    assert good["n"] == 120 and good["ci_low"] < good["spearman"] < good["ci_high"] and good["ci_low"] > 0.8
    per_model = corr[(corr["finder"] == "good") & (corr["scope"] != POOLED)]
    assert sorted(per_model["scope"]) == ["m0", "m1", "m2", "m3"] and (per_model["n"] == 30).all()
    rnd = corr[(corr["finder"] == "random") & (corr["scope"] == POOLED)].iloc[0]
    assert rnd["ci_low"] < 0 < rnd["ci_high"]
    ranked = rank_finders(corr)
    assert list(ranked["finder"][:2]) == ["inverse", "good"]  # by |rho|: inverse is exactly -1
    assert ranked["finder"].iloc[-1] == "random"
    assert list(ranked["rank"]) == [1, 2, 3, 4]


def test_an_imitability_finder_is_also_judged_without_its_own_bot() -> None:
    scores, plays, _ = synthetic()
    corr = finder_correlations(scores, plays, n_boot=50)
    knn = corr[(corr["finder"] == "imitability_knn_l1") & (corr["scope"] == POOLED)].iloc[0]
    # its score is the kNN term of the target (a third of it): correlated with the target, but with the other
    # bots' imitability (independent draws here) it is not
    assert knn["spearman"] > 0.3 and knn["other_ci_low"] < 0 < knn["other_ci_high"]
    assert np.isnan(corr.loc[corr["finder"] == "good", "spearman_other_bots"]).all()
    assert own_bot("imitability_ridge_l2") == "ridge" and own_bot("imitability_unigram") == "unigram"
    assert own_bot("kurtosis") is None


def test_the_bootstrap_resamples_units_within_models(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every resample keeps each model's number of units (a pooled resample would not)."""
    scores, plays, _ = synthetic(models=3, units=10)
    scores = scores[~scores["unit_id"].str.startswith("m2/") | (scores["unit_id"] < "m2/s/neuron/3")]
    seen: list[np.ndarray] = []
    real = sf._spearman

    def spy(x: np.ndarray, y: np.ndarray) -> float:
        seen.append(x)
        return real(x, y)

    monkeypatch.setattr(sf, "_spearman", spy)
    frame = scores[scores["finder"] == "good"].merge(imitability_targets(plays), on=["model", "unit_id"])
    rng = np.random.default_rng(0)
    seen.clear()
    sf._boot(frame, "imitability", 20, rng)
    models = frame["model"].to_numpy()
    # the model of each resampled row, recovered from the score values (all distinct)
    by_score = dict(zip(frame["score"], models, strict=True))
    for x in seen[1:]:
        counts = pd.Series([by_score[v] for v in x]).value_counts().to_dict()
        assert counts == {"m0": 10, "m1": 10, "m2": 3}


def test_the_plot_is_written(tmp_path: Path) -> None:
    scores, plays, _ = synthetic(models=2, units=8)
    path = plot_finder_ranking(finder_correlations(scores, plays, n_boot=20), tmp_path / "f.png")
    assert path.read_bytes()[:4] == b"\x89PNG"
