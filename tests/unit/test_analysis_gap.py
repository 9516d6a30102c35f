"""Humans vs bots: a planted bot advantage on some units and a planted human advantage on others are
recovered with the right sign on the same items; pairing by item matters (a planted item effect fools an
unpaired comparison); bot ids parse; too few shared items say "not enough data"."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mirrorneuron.analysis import gap
from mirrorneuron.analysis.sections import AnalysisData
from mirrorneuron.analysis.simulate import SimConfig, Simulation, gameplay_frame, simulate

CFG = SimConfig(n_players=400, n_units=12, beta=0.0, popularity=0.0, seed=5)
PLANTED = np.r_[np.full(4, 0.1), np.full(4, -0.1), np.zeros(4)]  # human − bot: humans ahead, behind, level


def _bot_rounds(sim: Simulation, humans: pd.DataFrame, name: str, planted: np.ndarray, seed: int) -> pd.DataFrame:
    """One bot round per item the humans answered: the humans' expected outcome (no skill, no practice) − the
    planted gap + noise."""
    rng = np.random.default_rng(seed)
    items = humans.drop_duplicates(list(gap.ITEM)).copy()
    u = items["unit_id"].astype(str).str[1:].astype(int).to_numpy()
    expected = sim.config.mu - sim.difficulty[u] + np.asarray(sim.config.level_effect)[items["level"].to_numpy()]
    items["outcome"] = np.clip(expected - planted[u] + rng.normal(0, 0.05, len(items)), 0, 1)
    items["player_id"], items["player_kind"] = f"bot-{name}-v2", "bot"
    return items


def _both(humans: pd.DataFrame, *bots: pd.DataFrame) -> pd.DataFrame:
    return pd.concat([humans.astype({"player_id": str, "player_kind": str}), *bots], ignore_index=True)


@pytest.fixture(scope="module")
def played() -> tuple[Simulation, pd.DataFrame]:
    sim = simulate(CFG)
    return sim, gameplay_frame(sim)


def test_bot_ids_parse() -> None:
    assert gap.bot_name("bot-ridge-v2") == "ridge"
    assert gap.bot_name("bot-llm-gpt-v1.3") == "llm-gpt"
    assert gap.bot_name("p17") is None and gap.bot_name("bot-ridge") is None


def test_a_planted_gap_is_recovered_with_its_sign(played: tuple[Simulation, pd.DataFrame]) -> None:
    sim, humans = played
    rounds = _both(humans, _bot_rounds(sim, humans, "ridge", PLANTED, 0), _bot_rounds(sim, humans, "knn", -PLANTED, 1))
    table = gap.simulatability_gap(rounds)
    assert table["enough_data"].all() and set(table["bot"]) == {"ridge", "knn"}
    for bot, sign in (("ridge", 1.0), ("knn", -1.0)):
        t = table[table["bot"] == bot].set_index("unit_id")
        planted = sign * PLANTED[[int(u[1:]) for u in t.index]]
        ahead, behind = planted > 0, planted < 0
        assert (t["lo"][ahead] > 0).all() and (t["hi"][behind] < 0).all()
        assert (np.abs(t["gap"] - planted) < 0.03).all()  # up to the simulated bot's small clipping bias
    summary = gap.bot_summary(table).set_index("bot")
    assert summary.loc["ridge", "humans_better"] >= 4 and summary.loc["ridge", "bot_better"] >= 4
    assert np.isfinite(table["human_correlation"]).all() and np.isfinite(table["bot_correlation"]).all()


def test_the_gap_pairs_the_same_items(played: tuple[Simulation, pd.DataFrame], monkeypatch: pytest.MonkeyPatch) -> None:
    sim, humans = played
    hard = humans["example_id"].astype(str).str.split("-ex").str[1].astype(int) >= 16  # half the examples
    humans = humans.assign(outcome=np.where(hard, humans["outcome"] - 0.2, humans["outcome"]))
    bot = _bot_rounds(sim, humans[~hard], "ridge", np.zeros(CFG.n_units), 2)  # the bot plays the easy half only
    rounds = _both(humans, bot)
    paired = gap.simulatability_gap(rounds, min_items=3)
    assert (paired["gap"].abs() < 0.05).all()  # no planted gap: on the same items humans and bot are level
    # the planted fault: pairing by unit and level only lets the humans' hard items in
    monkeypatch.setattr(gap, "ITEM", ("unit_id", "level"))
    unpaired = gap.simulatability_gap(rounds, min_items=3)
    assert (unpaired["gap"] < -0.05).mean() > 0.8


def test_too_few_shared_items_say_not_enough_data(played: tuple[Simulation, pd.DataFrame]) -> None:
    sim, humans = played
    bot = _bot_rounds(sim, humans, "ridge", PLANTED, 0)
    few = bot.groupby("unit_id", observed=True).head(5)
    table = gap.simulatability_gap(_both(humans, few), min_items=10)
    assert (~table["enough_data"]).all() and (table["shown"] == "not enough data").all()
    assert table["gap"].isna().all()
    s = gap.section(AnalysisData(_both(humans, few)))
    assert not s.enough_data and "not enough data" in s.note.lower()
    assert not gap.section(AnalysisData(humans)).enough_data  # no bot rounds at all


def test_the_section(played: tuple[Simulation, pd.DataFrame]) -> None:
    sim, humans = played
    s = gap.section(AnalysisData(_both(humans, _bot_rounds(sim, humans, "ridge", PLANTED, 0))))
    assert s.enough_data and s.figure is not None and set(s.tables) == {"gap", "bots"}
    assert list(s.facts) == ["humans_better_than_ridge"] and s.facts["humans_better_than_ridge"] >= 4
