"""Finder evaluation: the planted best finder ranks first (and would not with its unit labels shuffled);
Spearman ρ and its bootstrap interval, precision@k and the interest measures match hand-computed values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from mirrorneuron.analysis import finder_eval
from mirrorneuron.analysis.across import unit_difficulties
from mirrorneuron.analysis.fit import fit_skill_difficulty
from mirrorneuron.analysis.sections import AnalysisData
from mirrorneuron.analysis.simulate import BEST_FINDER, SimConfig, gameplay_frame, planted_finders, simulate


@pytest.fixture(scope="module")
def data() -> AnalysisData:
    sim = simulate(SimConfig(n_players=400, n_units=60, popularity=0.0, seed=2))
    df = gameplay_frame(sim)
    return AnalysisData(df, fit_skill_difficulty(df), finder_scores=planted_finders(sim, seed=3))


def test_the_planted_best_finder_ranks_first(data: AnalysisData) -> None:
    table = finder_eval.evaluate_finders(data.finder_scores, unit_difficulties(data), data.rounds).set_index("finder")
    assert table["rank"].idxmin() == BEST_FINDER and list(table["rank"]) == sorted(table["rank"])
    best, noisy, rand = (table.loc[f] for f in (BEST_FINDER, "planted-noisy", "planted-random"))
    assert best["rho_imitability"] > 0.9 and best["lo_imitability"] > noisy["hi_imitability"] - 0.1
    assert rand["lo_imitability"] < 0 < rand["hi_imitability"]
    assert best["precision_easiest"] >= 0.5 and best["precision_hardest"] >= 0.5
    assert best["chance"] == pytest.approx(best["k"] / 60)
    # the planted fault: the best finder's scores attached to the wrong units no longer rank first
    fs = data.finder_scores.copy()
    mine = fs["finder"] == BEST_FINDER
    fs.loc[mine, "unit_id"] = np.random.default_rng(0).permutation(fs.loc[mine, "unit_id"].to_numpy())
    shuffled = finder_eval.evaluate_finders(fs, unit_difficulties(data), data.rounds)
    assert shuffled.iloc[0]["finder"] != BEST_FINDER


def test_spearman_and_its_bootstrap_interval() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=80)
    y = x + rng.normal(size=80)
    rho, lo, hi = finder_eval.spearman_ci(x, y, n_boot=2000)
    assert rho == pytest.approx(spearmanr(x, y).statistic)
    assert lo < rho < hi and 0.1 < hi - lo < 0.5
    # the percentile interval covers the truth across repeated samples about 95 % of the time
    true = spearmanr(x := rng.normal(size=20000), x + rng.normal(size=20000)).statistic
    hits = 0
    for s in range(60):
        r = np.random.default_rng(100 + s)
        a = r.normal(size=60)
        _, low, high = finder_eval.spearman_ci(a, a + r.normal(size=60), n_boot=400, seed=s)
        hits += low <= true <= high
    assert 0.85 <= hits / 60 <= 1.0


def test_precision_at_k_by_hand() -> None:
    imitability = np.array([5.0, 4, 3, 2, 1, 0])  # units 0, 1 easiest; 4, 5 hardest
    score = np.array([9.0, 1, 8, 2, 3, 0])  # top-2: units 0, 2; bottom-2: units 5, 1
    assert finder_eval.precision_at_k(score, imitability, 2) == (0.5, 0.5)
    assert finder_eval.precision_at_k(imitability, imitability, 3) == (1.0, 1.0)


def test_interest_from_rounds_by_hand() -> None:
    rows = pd.DataFrame(
        {
            "player_kind": "human",
            "player_id": ["a"] * 6 + ["b"] * 3 + ["c"] * 2,
            "unit_id": ["u"] * 9 + ["v"] * 2,
            "game_id": ["g1"] * 3 + ["g2"] * 3 + ["g3"] * 3 + ["g4"] * 2,
            "seq": [0, 1, 2] * 3 + [0, 1],  # g4 stopped after 2 of the planned 3 rounds
            "seconds": [1.0] * 9 + [5.0, 5.0],
        }
    )
    got = finder_eval.interest(rows).set_index("unit_id")
    assert got.loc["u", "replays"] == pytest.approx(0.5)  # a played 2 games, b one: mean 1.5 − 1
    assert got.loc["u", "completion"] == 1.0 and got.loc["v", "completion"] == 0.0
    assert got.loc["u", "time"] == pytest.approx(4.5) and got.loc["v", "time"] == 10.0
    untimed = finder_eval.interest(rows.assign(seconds=np.where(rows["unit_id"] == "v", np.nan, rows["seconds"])))
    assert np.isnan(untimed.set_index("unit_id").loc["v", "time"])  # unknown, not 0 seconds


def test_the_section(data: AnalysisData) -> None:
    s = finder_eval.section(data)
    assert s.enough_data and s.figure is not None and s.facts["best_finder"] == BEST_FINDER
    assert {f"rho_{t}" for t in finder_eval.TARGETS} <= set(s.tables["finders"].columns)
    none = AnalysisData(data.rounds, data.fit)
    assert not finder_eval.section(none).enough_data
