"""The skill × difficulty fit: planted truths recovered (2k players × 300 units), the solver equal to a dense
least-squares solve, the DataFrame API, and planted faults (shuffled labels, shrunk intervals) caught."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from mirrorneuron.analysis.fit import ArrayFit, fit_arrays, fit_skill_difficulty, prior_rounds
from mirrorneuron.analysis.simulate import Recovery, SimConfig, Simulation, recovery, simulate


def _fit(sim: Simulation, unit: np.ndarray | None = None) -> ArrayFit:
    c = sim.config
    return fit_arrays(
        sim.player, sim.unit if unit is None else unit, sim.level, sim.outcome, sim.prior,
        n_players=c.n_players, n_units=c.n_units, n_levels=len(c.level_effect),
    )  # fmt: skip


def assert_recovered(rec: Recovery) -> None:
    """The issue's figures: difficulty ρ ≥ 0.95, skill ρ ≥ 0.9, 95 % intervals covering 90–98 %."""
    assert rec.difficulty_spearman >= 0.95
    assert rec.skill_spearman >= 0.9
    for coverage in (rec.difficulty_coverage, rec.skill_coverage):
        assert 0.90 <= coverage <= 0.98
    assert np.all(np.abs(rec.level_z) < 4) and np.all(np.abs(rec.level_error) < 0.01)
    assert rec.beta_error is not None and abs(rec.beta_error) < 0.005


@pytest.fixture(scope="module")
def sim() -> Simulation:
    return simulate(SimConfig(n_players=2000, n_units=300, seed=3))


@pytest.fixture(scope="module")
def fitted(sim: Simulation) -> ArrayFit:
    return _fit(sim)


def test_planted_truths_are_recovered(sim: Simulation, fitted: ArrayFit) -> None:
    assert fitted.converged and sim.n_rounds > 50_000
    assert_recovered(recovery(sim, fitted))


def test_shuffled_unit_labels_fail_the_recovery_check(sim: Simulation) -> None:
    rng = np.random.default_rng(0)
    wrong = rng.permutation(sim.config.n_units)[sim.unit]  # every round credited to a random other unit
    with pytest.raises(AssertionError):
        assert_recovered(recovery(sim, _fit(sim, unit=wrong)))


@pytest.mark.parametrize("shrink", [0.7, 1.6])
def test_wrong_interval_widths_fail_the_coverage_check(sim: Simulation, fitted: ArrayFit, shrink: float) -> None:
    bad = dataclasses.replace(fitted, skill_se=fitted.skill_se * shrink, difficulty_se=fitted.difficulty_se * shrink)
    with pytest.raises(AssertionError):
        assert_recovered(recovery(sim, bad))


def test_the_solver_matches_a_dense_ridge_least_squares() -> None:
    """Estimates equal the dense ridge solution. Standard errors are compared with the estimator's exact
    covariance σ²·N⁻¹XᵀXN⁻¹: level and practice ones within a few per cent (slightly conservative); player and
    unit ones (the Schur-complement approximation) within 15 % at the median on this small, sparse design."""
    sim = simulate(SimConfig(n_players=200, n_units=40, games_per_player=3, seed=1))
    fit = _fit(sim)
    n, p_, u_ = sim.n_rounds, sim.config.n_players, sim.config.n_units
    x = np.zeros((n, p_ + u_ + 3 + 1 + 1))
    x[np.arange(n), sim.player] = 1
    x[np.arange(n), p_ + sim.unit] = -1
    for k in (1, 2, 3):
        x[:, p_ + u_ + k - 1] = sim.level == k
    x[:, -2], x[:, -1] = 1.0, np.log1p(sim.prior)
    ridge = np.zeros(x.shape[1])
    ridge[: p_ + u_] = fit.ridge
    xtx = x.T @ x
    inv = np.linalg.inv(xtx + np.diag(ridge))
    theta = inv @ (x.T @ sim.outcome)
    np.testing.assert_allclose(fit.skill, theta[:p_], atol=1e-6)
    np.testing.assert_allclose(fit.difficulty, theta[p_ : p_ + u_], atol=1e-6)
    np.testing.assert_allclose(fit.level_effect[1:], theta[p_ + u_ : p_ + u_ + 3], atol=1e-6)
    assert fit.mu == pytest.approx(theta[-2], abs=1e-6) and fit.beta == pytest.approx(theta[-1], abs=1e-6)
    var = np.diag(inv @ xtx @ inv) * fit.sigma**2
    fixed = np.r_[fit.level_se[1:] ** 2, fit.beta_se**2] / var[[p_ + u_, p_ + u_ + 1, p_ + u_ + 2, -1]]
    assert np.all((fixed > 0.99) & (fixed < 1.1))
    played = np.r_[fit.player_rounds, fit.unit_rounds] > 0
    ratio = (np.r_[fit.skill_se, fit.difficulty_se] ** 2 / np.where(played, var[: p_ + u_], 1.0))[played]
    assert 0.9 < np.median(ratio[:p_]) < 1.15 and 0.9 < np.median(ratio[p_:]) < 1.15


def test_prior_rounds_counts_earlier_rounds_of_the_same_player_on_the_same_unit() -> None:
    player = np.array([0, 0, 1, 0, 1, 0, 2])
    unit = np.array([5, 5, 5, 3, 5, 5, 3])
    assert prior_rounds(player, unit).tolist() == [0, 1, 0, 0, 1, 2, 0]


def test_the_dataframe_api_keeps_labels_and_uses_the_lowest_level_as_reference(sim: Simulation) -> None:
    df = sim.rounds()
    df["level"] = df["level"] + 1  # levels 1..4: the reference is 1
    fit = fit_skill_difficulty(df.sample(frac=1.0, random_state=0))  # row order does not matter
    assert list(fit.players.columns) == ["player_id", "skill", "se", "lo", "hi", "n_rounds"]
    assert list(fit.units.columns) == ["unit_id", "difficulty", "se", "lo", "hi", "n_rounds", "n_players"]
    assert fit.levels["level"].tolist() == [1, 2, 3, 4] and fit.levels["effect"].iloc[0] == 0.0
    truth = pd.Series(sim.difficulty, index=sim.unit_ids())
    got = fit.units.set_index("unit_id")["difficulty"]
    assert np.corrcoef(got, truth[got.index])[0, 1] > 0.97
    assert (fit.units["lo"] < fit.units["difficulty"]).all() and (fit.units["n_rounds"].sum() == sim.n_rounds)
    assert fit.summary["n_players"] == sim.config.n_players and fit.summary["beta"] > 0


def test_without_a_practice_term_beta_is_none(sim: Simulation) -> None:
    fit = fit_skill_difficulty(sim.rounds(), practice=None)
    assert fit.summary["beta"] is None and fit.arrays.beta is None
    zeros = fit_arrays(sim.player, sim.unit, sim.level, sim.outcome, np.zeros(sim.n_rounds))  # nothing replayed
    assert zeros.beta is None and zeros.beta_se is None


def test_an_empty_level_gets_nan_not_a_number(sim: Simulation) -> None:
    keep = sim.level != 2
    fit = fit_arrays(sim.player[keep], sim.unit[keep], sim.level[keep], sim.outcome[keep], n_levels=4)
    assert np.isnan(fit.level_effect[2]) and np.isfinite(fit.level_effect[[0, 1, 3]]).all()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"player": np.array([0.5, 1.0])}, "integer codes"),
        ({"outcome": np.array([np.nan, 1.0])}, "NaN"),
        ({"unit": np.array([0, -1])}, "≥ 0"),
        ({"level": np.array([1, 1])}, "reference level"),
        ({"ridge": 0.0}, "ridge must be positive"),
        ({"outcome": np.array([1.0])}, "differ in length"),
    ],
)
def test_bad_input_gets_a_clear_error(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"player": np.array([0, 1]), "unit": np.array([0, 1]), "level": np.array([0, 0]),
                               "outcome": np.array([0.5, 0.7])}  # fmt: skip
    ridge = kwargs.pop("ridge", 1.0)
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        fit_arrays(args["player"], args["unit"], args["level"], args["outcome"], ridge=ridge)  # type: ignore[arg-type]


def test_a_missing_column_is_named() -> None:
    with pytest.raises(ValueError, match="prior_rounds"):
        fit_skill_difficulty(pd.DataFrame({"player_id": [1], "unit_id": [1], "level": [0], "outcome": [0.5]}))
