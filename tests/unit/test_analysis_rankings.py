"""Rankings: planted easy units rank easiest, the minimum-data rule says "not enough data" instead of a
number (and a disabled rule would show one), players and level effects follow the planted truth."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr
from test_package_graph import _kept, graph

from mirrorneuron.analysis import rankings
from mirrorneuron.analysis.fit import fit_skill_difficulty
from mirrorneuron.analysis.sections import AnalysisData
from mirrorneuron.analysis.simulate import SimConfig, Simulation, gameplay_frame, simulate


@pytest.fixture(scope="module")
def played() -> tuple[Simulation, pd.DataFrame]:
    sim = simulate(SimConfig(n_players=600, n_units=40, seed=3))
    return sim, gameplay_frame(sim)


def _planted(sim: Simulation, unit_ids: pd.Series) -> np.ndarray:
    return sim.difficulty[[int(str(u)[1:]) for u in unit_ids]]


def test_planted_easy_units_rank_easiest(played: tuple[Simulation, pd.DataFrame]) -> None:
    sim, df = played
    ranked = rankings.unit_ranking(fit_skill_difficulty(df))
    assert ranked["enough_data"].all()
    assert spearmanr(ranked["difficulty"], _planted(sim, ranked["unit_id"])).statistic > 0.95
    easy, hard = rankings.extremes(ranked, 5)
    truly_easiest = set(np.argsort(sim.difficulty)[:8])
    assert len({int(u[1:]) for u in easy["unit_id"]} & truly_easiest) >= 4
    assert easy["difficulty"].max() < hard["difficulty"].min()
    assert list(ranked["rank"].iloc[:3]) == [1.0, 2.0, 3.0]
    assert (ranked["lo"] <= ranked["difficulty"]).all() and (ranked["difficulty"] <= ranked["hi"]).all()


def test_below_the_minimum_data_rule_a_unit_says_not_enough_data(played: tuple[Simulation, pd.DataFrame]) -> None:
    sim, df = played
    easiest = f"u{int(np.argmin(sim.difficulty))}"
    rare = df[df["unit_id"] == easiest].head(8)  # the truly easiest unit, seen 8 times only
    thin = pd.concat([df[df["unit_id"] != easiest], rare], ignore_index=True)
    fit = fit_skill_difficulty(thin)
    ranked = rankings.unit_ranking(fit, min_rounds=20)
    row = ranked[ranked["unit_id"] == easiest].iloc[0]
    assert row["shown"] == rankings.NOT_ENOUGH and not row["enough_data"]
    assert np.isnan(row["difficulty"]) and np.isnan(row["lo"]) and np.isnan(row["rank"])
    easy, _ = rankings.extremes(ranked, 5)
    assert easiest not in set(easy["unit_id"])
    section = rankings.section(AnalysisData(thin, fit), min_rounds=20)
    assert rankings.NOT_ENOUGH in section.note and section.facts["units_not_enough_data"] == 1
    # the planted fault: without the rule the 8-round unit gets a number (and may top the ranking)
    loose = rankings.unit_ranking(fit, min_rounds=1, min_players=1)
    assert loose.loc[loose["unit_id"] == easiest, "shown"].iloc[0] != rankings.NOT_ENOUGH


def test_players_and_level_effects_follow_the_planted_truth(played: tuple[Simulation, pd.DataFrame]) -> None:
    sim, df = played
    fit = fit_skill_difficulty(df)
    players = rankings.player_ranking(fit, min_rounds=20)
    ok = players[players["enough_data"]]
    planted_skill = sim.skill[[int(str(p)[1:]) for p in ok["player_id"]]]
    assert spearmanr(ok["skill"], planted_skill).statistic > 0.8
    assert (players.loc[~players["enough_data"], "n_rounds"] < 20).all()
    levels = rankings.level_effects(fit)
    assert np.all(np.diff(levels["effect"].to_numpy()) > 0)  # planted 0, .03, .06, .10
    assert levels["shown"].iloc[0] == "+0.000 [+0.000, +0.000]"


def test_the_section_renders_and_says_so_without_a_fit(played: tuple[Simulation, pd.DataFrame]) -> None:
    _, df = played
    s = rankings.section(AnalysisData(df, fit_skill_difficulty(df)), k=5)
    assert s.enough_data and set(s.tables) == {"units", "players", "levels"} and s.figure is not None
    buf = io.BytesIO()
    s.figure.savefig(buf, format="png")
    assert buf.getvalue()[:4] == b"\x89PNG"
    empty = rankings.section(AnalysisData(df, None))
    assert not empty.enough_data and empty.note.startswith("Not enough data")


def test_mean_interval_is_a_t_interval() -> None:
    m, se, _lo, hi = rankings.mean_interval(np.array([1.0, 2.0, 3.0, 4.0]))
    assert m == 2.5 and se == pytest.approx(np.std([1, 2, 3, 4], ddof=1) / 2)
    assert hi - m == pytest.approx(3.182446305284263 * se)  # t(0.975, 3)
    assert np.isnan(rankings.mean_interval(np.array([1.0]))[1])


@pytest.mark.parametrize(
    ("importer", "imported"),
    [
        ("mirrorneuron.analysis.rankings", "mirrorneuron.analysis.load"),
        ("mirrorneuron.analysis.gap", "sqlalchemy"),
        ("mirrorneuron.analysis.power", "mirrorneuron.store.models"),
        ("mirrorneuron.analysis.finder_eval", "torch"),
    ],
)
def test_the_sections_stay_pure_and_a_planted_import_breaks_the_contract(importer: str, imported: str) -> None:
    g = graph()
    assert _kept("analysis sections are pure", g)
    g.add_import(importer=importer, imported=imported)
    assert not _kept("analysis sections are pure", g)
