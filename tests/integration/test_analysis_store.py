"""Simulated gameplay through the real store and back, on SQLite and Postgres: every stored score is the one
scorer's, the loader returns the simulated rounds in play order, and the fit on the loaded frame recovers
the planted truths."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine, func, select
from store_fixtures import pg_server, store_engine  # noqa: F401  (pytest fixtures)

from mirrorneuron.analysis.fit import fit_skill_difficulty
from mirrorneuron.analysis.load import LOAD_COLUMNS, load_rounds
from mirrorneuron.analysis.simstore import StoredSimulation, write_simulation
from mirrorneuron.analysis.simulate import SimConfig, Simulation, simulate
from mirrorneuron.game.scoring import round_score
from mirrorneuron.store.models import Game, Guess, Round

CONFIG = SimConfig(n_players=800, n_units=120, games_per_player=4, seed=5)


@pytest.fixture(scope="module")
def stored(store_engine: Engine) -> tuple[Simulation, StoredSimulation, pd.DataFrame]:  # noqa: F811
    sim = simulate(CONFIG)
    where = write_simulation(store_engine, sim, chunk_games=700)
    return sim, where, load_rounds(store_engine, model_id=where.model_id, chunk_size=5000)


def test_the_loaded_rounds_are_the_simulated_ones(stored: tuple[Simulation, StoredSimulation, Any]) -> None:
    sim, where, df = stored
    assert list(df.columns) == list(LOAD_COLUMNS) and len(df) == sim.n_rounds
    assert df["guess_id"].is_monotonic_increasing
    np.testing.assert_allclose(df["outcome"].to_numpy(), sim.outcome, atol=1e-9)
    np.testing.assert_array_equal(df["prior_rounds"].to_numpy(), sim.prior)
    np.testing.assert_array_equal(df["level"].to_numpy(), sim.level)
    assert df["player_id"].astype(str).tolist() == [where.player_ids[i] for i in sim.player]
    assert df["unit_id"].astype(str).tolist() == [where.unit_ids[j] for j in sim.unit]
    np.testing.assert_allclose(df["abs_error"].to_numpy(), 1.0 - sim.outcome, atol=1e-9)
    assert set(df["design"]) == {"simulated"} and df["study_id"].isna().all()


def test_every_stored_score_is_the_scorers(stored: tuple[Simulation, StoredSimulation, Any]) -> None:
    _, _, df = stored
    expected = [round_score(g, a, s) for g, a, s in zip(df["guess"], df["actual"], df["scale"], strict=True)]
    np.testing.assert_array_equal(df["score"].to_numpy(), np.array(expected))


def test_the_fit_on_the_store_recovers_the_planted_truth(stored: tuple[Simulation, StoredSimulation, Any]) -> None:
    sim, where, df = stored
    fit = fit_skill_difficulty(df)
    units = fit.units.set_index("unit_id").loc[where.unit_ids]
    players = fit.players.set_index("player_id").loc[where.player_ids]
    d_rho = pd.Series(units["difficulty"].to_numpy()).corr(pd.Series(sim.difficulty), method="spearman")
    s_rho = pd.Series(players["skill"].to_numpy()).corr(pd.Series(sim.skill), method="spearman")
    assert d_rho >= 0.95 and s_rho >= 0.9
    for est, truth in ((units, sim.difficulty), (players, sim.skill)):
        covered = ((est["lo"].to_numpy() <= truth) & (truth <= est["hi"].to_numpy())).mean()
        assert 0.90 <= covered <= 0.98
    planted = np.asarray(CONFIG.level_effect)
    assert np.all(np.abs(fit.levels["effect"].to_numpy() - planted) < 4 * fit.levels["se"].to_numpy() + 1e-12)


def test_filters_and_an_empty_store_selection(store_engine: Engine, stored: Any) -> None:  # noqa: F811
    sim, where, _ = stored
    assert load_rounds(store_engine, model_id="no-such-model").empty
    assert list(load_rounds(store_engine, model_id="no-such-model").columns) == list(LOAD_COLUMNS)
    bots = load_rounds(store_engine, model_id=where.model_id, player_kind="bot")
    assert bots.empty
    with store_engine.connect() as conn:
        n = conn.execute(select(func.count()).select_from(Guess)).scalar_one()
        games = conn.execute(select(func.count()).select_from(Game).where(Game.design == "simulated")).scalar_one()
        payload, created = conn.execute(select(Round.payload, Round.created_at).limit(1)).one()
    assert n >= sim.n_rounds and games == sim.n_rounds // CONFIG.rounds_per_game
    assert payload == {"simulated": True} and created.tzinfo is not None  # JSON and UTC datetimes, not strings
