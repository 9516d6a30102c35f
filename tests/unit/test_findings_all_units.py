"""Ranking on every unit from the imitability finders' own rounds: their scores read as the bot plays
``zoo sweep-bots`` would record, each imitability finder ranked against the other bots only, and imitability
by knob with intervals over models instead of units."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import t as student_t

from cli_run import run_main
from mirrorneuron.analysis.sweep_finders import (
    FINDER_PLAYS,
    finder_correlations,
    finder_plays,
    imitability_targets,
    rank_finders,
)
from mirrorneuron.analysis.sweeps import imitability_by_knob


def _scores(rng: np.random.Generator, models: int = 3, units: int = 40) -> pd.DataFrame:
    rows = []
    for m in range(models):
        for u in range(units):
            for finder in FINDER_PLAYS:
                rows.append({"unit_id": f"m{m}/s/neuron/{u}", "model": f"m{m}", "finder": finder,
                             "score": float(rng.uniform(-0.2, 1.0))})  # fmt: skip
    return pd.DataFrame(rows)


def test_finder_scores_weigh_bots_and_levels_as_sweep_bots_plays_do() -> None:
    scores = _scores(np.random.default_rng(0), models=1, units=3)
    got = imitability_targets(finder_plays(scores)).set_index("unit_id")["imitability"]
    s = scores.pivot(index="unit_id", columns="finder", values="score")
    # levels 0–2: unigram at each, kNN l0 once and l1 at 1–2, ridge l1 at 0–1 and l2 once (l3 left out)
    expected = (3 * s["imitability_unigram"] + s["imitability_knn_l0"] + 2 * s["imitability_knn_l1"]
                + 2 * s["imitability_ridge_l1"] + s["imitability_ridge_l2"]) / 9  # fmt: skip
    assert np.allclose(got.loc[expected.index], expected)


def test_an_imitability_finder_is_ranked_by_the_other_bots_on_its_own_rounds() -> None:
    rng = np.random.default_rng(1)
    scores = _scores(rng)
    # a cheap finder that predicts the target a little, and the imitability finders as they are (each is
    # part of the target, so its own correlation is high without predicting any other bot)
    target = imitability_targets(finder_plays(scores))
    cheap = target.assign(finder="cheap", score=target["imitability"] + rng.normal(0, 0.25, len(target)))
    cheap = cheap.rename(columns={"imitability": "_"})[["unit_id", "model", "finder", "score"]]
    corr = finder_correlations(pd.concat([scores, cheap], ignore_index=True), finder_plays(scores), n_boot=10)
    honest, naive = rank_finders(corr, own_rounds=True), rank_finders(corr)
    assert honest.iloc[0]["finder"] == "cheap"  # the others' independent scores do not predict each other
    assert naive.iloc[0]["finder"] != "cheap"  # planted: ranked by their own ρ, a bot wins by being its target
    knn = honest.set_index("finder").loc["imitability_knn_l0"]
    assert knn["ranked_by"] == "spearman_other_bots" and knn["rho"] == knn["spearman_other_bots"]
    assert honest.set_index("finder").loc["cheap", "ranked_by"] == "spearman"


def test_imitability_by_knob_over_models_is_a_t_interval_of_the_model_means() -> None:
    manifest = {
        "spec": {"grid": {"act": ["a", "b"]}},
        "models": [
            {"name": f"{v}{s}", "knobs": {"act": v}, "seed": s, "attributes": {}} for v in "ab" for s in (0, 1, 2)
        ],
    }
    rng = np.random.default_rng(2)
    plays = [{"model": f"a{s}", "unit": f"a{s}/{u}", "level": 0, "bot": "knn", "correlation": float(rng.normal(s, 0.1))}
             for s in (0, 1, 2) for u in range(50)]  # fmt: skip
    plays.append({"model": "a0", "unit": "a0/dead", "level": 0, "bot": "knn", "correlation": float("nan")})
    row = next(r for r in imitability_by_knob(plays, manifest, by="models") if r["value"] == "a" and r["level"] == 0)
    means = np.array([np.mean([p["correlation"] for p in plays[s * 50 : s * 50 + 50]]) for s in (0, 1, 2)])
    half = student_t.ppf(0.975, 2) * means.std(ddof=1) / np.sqrt(3)
    assert row["correlation"] == pytest.approx(means.mean())
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((means.mean() - half, means.mean() + half))
    assert row["models"] == 3 and row["units"] == 150  # the unscored (NaN) unit is left out
    by_units = next(r for r in imitability_by_knob(plays, manifest) if r["value"] == "a" and r["level"] == 0)
    assert by_units["ci_high"] - by_units["ci_low"] < (row["ci_high"] - row["ci_low"]) / 5  # units: far narrower
    with pytest.raises(ValueError, match="by must be"):
        imitability_by_knob(plays, manifest, by="seeds")


def test_an_unknown_eval_target_is_a_one_line_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, err = run_main(["finders", "eval", "--sweep", "default", "--target", "humans"], capsys, monkeypatch)
    assert code == 2 and "--target must be `bots` or `finders`" in out + err and "Traceback" not in out + err
