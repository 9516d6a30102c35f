"""The player simulator: deterministic, planted truths as documented, practice counted as the fit counts it;
and the analysis import contract holds and bites."""

from __future__ import annotations

import numpy as np
import pytest
from test_package_graph import _kept, graph

from mirrorneuron.analysis.simulate import SimConfig, simulate


def test_a_seed_gives_the_same_gameplay_and_another_seed_does_not() -> None:
    a, b, c = (simulate(SimConfig(n_players=50, n_units=10, seed=s)) for s in (1, 1, 2))
    np.testing.assert_array_equal(a.outcome, b.outcome)
    assert a.outcome.size != c.outcome.size or not np.array_equal(a.outcome, c.outcome)


def test_the_planted_structure() -> None:
    sim = simulate(SimConfig(n_players=400, n_units=40, repeat=0.5, seed=4))
    c = sim.config
    assert abs(sim.skill.sum()) < 1e-9 and abs(sim.difficulty.sum()) < 1e-9  # centred, as the ridge assumes
    assert sim.outcome.min() >= 0 and sim.outcome.max() <= 1 and sim.clipped < 0.02
    games = sim.game.reshape(-1, c.rounds_per_game)  # whole games of one player, unit and level
    for arr in (sim.player, sim.unit, sim.level):
        assert (arr.reshape(games.shape) == arr.reshape(games.shape)[:, :1]).all()
    assert sim.prior.max() >= 2 * c.rounds_per_game  # repeated games accumulate practice
    df = sim.rounds()
    assert list(df.columns) == ["player_id", "unit_id", "level", "prior_rounds", "outcome", "game", "seq"]
    assert df["player_id"].iloc[0] == f"p{sim.player[0]}"


def test_bad_configs_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        simulate(SimConfig(n_units=0))
    with pytest.raises(ValueError, match="repeat"):
        simulate(SimConfig(repeat=1.0))


@pytest.mark.parametrize(
    ("contract", "importer", "imported"),
    [
        ("analysis fits are pure", "mirrorneuron.analysis.fit", "sqlalchemy"),
        ("analysis fits are pure", "mirrorneuron.analysis.simulate", "mirrorneuron.store.models"),
        ("analysis reads and writes the store", "mirrorneuron.analysis.load", "mirrorneuron.web.app"),
        ("analysis reads and writes the store", "mirrorneuron.analysis.simstore", "torch"),
    ],
)
def test_the_analysis_contracts_hold_and_a_planted_import_breaks_them(
    contract: str, importer: str, imported: str
) -> None:
    g = graph()
    assert _kept(contract, g)
    g.add_import(importer=importer, imported=imported)
    assert not _kept(contract, g)
