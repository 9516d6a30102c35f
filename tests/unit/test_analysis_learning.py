"""Learning curves rise with planted practice and stay flat without it; rounds-to-imitation is smaller for
planted-easy units, handles "never reached" (censoring) and too few players, and can use the ridge bot's level."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from mirrorneuron.analysis import learning
from mirrorneuron.analysis.sections import AnalysisData
from mirrorneuron.analysis.simulate import SimConfig, Simulation, gameplay_frame, simulate
from mirrorneuron.game.scoring import summarize

LEARNERS = SimConfig(n_players=200, n_units=12, mu=0.6, beta=0.06, difficulty_sd=0.1, games_per_player=4,
                     repeat=0.6, popularity=0.0, seed=1)  # fmt: skip


@pytest.fixture(scope="module")
def learners() -> tuple[Simulation, pd.DataFrame]:
    sim = simulate(LEARNERS)
    return sim, gameplay_frame(sim)


def test_the_learning_curve_rises_with_planted_practice_and_is_flat_without(
    learners: tuple[Simulation, pd.DataFrame],
) -> None:
    _, df = learners
    curve = learning.learning_curve(df, max_prior=20)
    assert curve["prior_rounds"].iloc[0] == 0 and (curve["n_players"] >= learning.MIN_PLAYERS).all()
    assert curve["hi"].iloc[0] < curve["lo"].iloc[-1]  # planted beta 0.06 · log(21) ≈ +0.18
    flat_sim = simulate(SimConfig(**{**LEARNERS.__dict__, "beta": 0.0}))
    flat = learning.learning_curve(gameplay_frame(flat_sim), max_prior=10)
    assert abs(flat["mean"].iloc[-1] - flat["mean"].iloc[0]) < 0.03
    assert flat["lo"].iloc[-1] <= flat["hi"].iloc[0]  # intervals overlap


def test_the_curve_averages_each_player_first() -> None:
    # one player with 50 first rounds at 1.0 and nine players with one first round at 0.0: the player-level
    # mean is 0.1, a round-level mean would be 0.83
    rows = pd.DataFrame({"player_id": ["a"] * 50 + [f"b{i}" for i in range(9)], "prior_rounds": 0,
                         "outcome": [1.0] * 50 + [0.0] * 9})  # fmt: skip
    curve = learning.learning_curve(rows)
    assert curve["mean"].iloc[0] == pytest.approx(0.1) and curve["n_players"].iloc[0] == 10


def test_first_crossing_uses_the_trailing_window() -> None:
    rng = np.random.default_rng(0)
    actual = rng.normal(size=12)
    guess = np.r_[rng.normal(size=6), actual[6:]]  # random for 6 rounds, then exact
    hit = learning.first_crossing(actual, guess, 3, 0.99)
    assert hit is not None and 6 < hit <= 9
    assert summarize(actual[hit - 3 : hit], guess[hit - 3 : hit]).correlation >= 0.99
    assert learning.first_crossing(actual, -actual, 3, 0.5) is None


def test_kaplan_meier_median_counts_censored_players() -> None:
    times, reached = np.array([1.0, 2, 2, 2, 6]), np.array([True, False, False, False, True])
    # the three players censored at 2 stay at risk until 2: S(1) = 4/5, S(6) = 0 → median 6 (a median of
    # the reached times would say 3.5, counting censored as reached would say 2)
    assert learning.km_median(times, reached) == 6.0
    assert learning.km_median(np.array([2.0, 3, 4, 5]), np.ones(4, bool)) == 3.0
    assert learning.km_median(np.array([5.0, 5, 5]), np.array([True, False, False])) == float("inf")


def test_rounds_to_imitation_is_smaller_for_planted_easy_units(learners: tuple[Simulation, pd.DataFrame]) -> None:
    sim, df = learners
    rti = learning.rounds_to_imitation(df)
    assert rti["enough_data"].all()
    planted = sim.difficulty[[int(u[1:]) for u in rti["unit_id"]]]
    finite_rank = rti["median_rounds"].replace(np.inf, 1e9)
    assert spearmanr(finite_rank, planted).statistic > 0.6
    order = np.argsort(planted)
    assert rti["median_rounds"].iloc[order[:4]].mean() < rti["median_rounds"].iloc[order[-4:]].mean()
    assert (rti["lo"] <= rti["median_rounds"]).all() and (rti["median_rounds"] <= rti["hi"]).all()
    # the planted fault: unit labels shuffled away from the rounds → the ordering is lost
    shuffled = df.assign(unit_id=pd.Categorical(np.random.default_rng(0).permutation(df["unit_id"].astype(str))))
    bad = learning.rounds_to_imitation(shuffled).set_index("unit_id").loc[rti["unit_id"], "median_rounds"]
    assert spearmanr(bad.replace(np.inf, 1e9), planted).statistic < 0.6


def test_never_reached_and_too_few_players_say_so(learners: tuple[Simulation, pd.DataFrame]) -> None:
    _, df = learners
    guessing = df.assign(guess=np.random.default_rng(1).permutation(df["guess"].to_numpy()))  # no imitation
    never = learning.rounds_to_imitation(guessing, threshold=0.95)
    assert np.isinf(never["median_rounds"]).all() and never["shown"].str.startswith("never").all()
    few = learning.rounds_to_imitation(df, min_players=10_000)
    assert (~few["enough_data"]).all() and (few["shown"] == "not enough data").all()
    assert few["median_rounds"].isna().all()
    with pytest.raises(ValueError, match="threshold"):
        learning.rounds_to_imitation(df, threshold="knn")
    with pytest.raises(ValueError, match="threshold"):
        learning.rounds_to_imitation(df, threshold=0.0)
    assert learning.rounds_to_imitation(df.head(0)).empty


def test_the_ridge_bot_level_is_the_threshold(learners: tuple[Simulation, pd.DataFrame]) -> None:
    _, df = learners
    bot = df[df["unit_id"].isin(["u0", "u1"])].head(200).copy()
    bot["player_id"], bot["player_kind"] = "bot-ridge-v3", "bot"
    both = pd.concat([df.astype({"player_id": str, "player_kind": str}), bot], ignore_index=True)
    rti = learning.rounds_to_imitation(both, threshold="ridge").set_index("unit_id")
    for u in ("u0", "u1"):
        mine = bot[bot["unit_id"] == u]
        assert rti.loc[u, "threshold"] == summarize(mine["actual"], mine["guess"]).correlation
    assert rti.loc["u2", "shown"] == learning.NO_RIDGE


def test_the_section(learners: tuple[Simulation, pd.DataFrame]) -> None:
    _, df = learners
    s = learning.section(AnalysisData(df))
    assert s.enough_data and s.figure is not None and set(s.tables) == {"curve", "rounds_to_imitation"}
    assert s.facts["learning_gain"] > 0.1
    assert not learning.section(AnalysisData(df.head(0))).enough_data


def _reference(df: pd.DataFrame, window: int, threshold: float) -> dict[tuple[str, str], int]:
    """Rounds at the first crossing (-1: never) per (unit, player), one exact summarize per window."""
    out = {}
    for (u, p), g in df.groupby(["unit_id", "player_id"], observed=True):
        if len(g) >= window:
            hit = learning.first_crossing(g["actual"].to_numpy(), g["guess"].to_numpy(), window, threshold)
            out[(str(u), str(p))] = -1 if hit is None else hit
    return out


@pytest.mark.parametrize("slack", [learning.SCREEN_SLACK, -0.05])
def test_the_fast_screen_finds_exactly_the_scorers_crossings(
    learners: tuple[Simulation, pd.DataFrame], slack: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, df = learners
    part = df[df["player_id"].isin([f"p{i}" for i in range(60)])]
    monkeypatch.setattr(learning, "SCREEN_SLACK", slack)  # -0.05: a planted screen that skips near misses
    units, uids = pd.factorize(part["unit_id"].astype(str))
    players, _ = pd.factorize(part["player_id"].astype(str))
    seq_unit, _, hit = learning._crossings(
        units, players, part["actual"].to_numpy(), part["guess"].to_numpy(), part["scale"].to_numpy(), 10,
        np.full(uids.size, 0.8),
    )  # fmt: skip
    want = _reference(part, 10, 0.8)
    got = sorted(zip([uids[u] for u in seq_unit], hit, strict=True))
    ref = sorted((u, h) for (u, _), h in want.items())
    assert len(got) == len(ref)
    if slack >= 0:
        assert got == ref
    else:
        assert got != ref
