"""Insight points: the formula by hand, and on planted units a mean-guessing bot earns ≈ 0 while the ridge bot at
level 3 earns near the maximum. A formula that rewards hedging (closeness × multiplier) fails that check."""

from __future__ import annotations

import pytest
from test_players_bots import gelu_unit, token_detector

from mirrorneuron.game import ArrayContext, Level, SessionResult, make_rounds, run_session, truth_from
from mirrorneuron.game import session as session_mod
from mirrorneuron.game.rounds import Round
from mirrorneuron.game.scoring import POINTS_VERSION, insight_points, round_score
from mirrorneuron.players import BotData, MeanBot, RidgeBot


@pytest.mark.parametrize(
    ("guess", "actual", "baseline", "scale", "multiplier", "expected"),
    [
        (1.0, 1.0, 0.0, 2.0, 1.0, 50.0),  # perfect: 100 · (1 − 0) / 2
        (0.5, 1.0, 0.0, 2.0, 1.0, 25.0),  # 100 · (1 − 0.5) / 2
        (0.5, 1.0, 0.0, 2.0, 2.0, 50.0),  # × level-0 multiplier
        (0.0, 1.0, 0.0, 2.0, 2.0, 0.0),  # the baseline itself
        (-1.0, 1.0, 0.0, 2.0, 1.0, 0.0),  # worse than the baseline: floored at 0, never negative
        (2.5, 3.0, 0.25, 4.0, 1.5, 1.5 * 100 * (2.75 - 0.5) / 4),  # 84.375
        (0.3, 0.25, 0.25, 1.0, 1.0, 0.0),  # truth at the mean: nothing to gain
    ],
)
def test_points_hand_computed(
    guess: float, actual: float, baseline: float, scale: float, multiplier: float, expected: float
) -> None:
    assert insight_points(guess, actual, baseline, scale, multiplier) == pytest.approx(expected)


def test_mean_guess_earns_exactly_0_and_a_perfect_guess_the_max() -> None:
    for actual in (-3.0, 0.1, 7.5):
        assert insight_points(1.25, actual, 1.25, 3.0, 2.0) == 0.0
        best = insight_points(actual, actual, 1.25, 3.0, 2.0)
        assert best == pytest.approx(100 * abs(actual - 1.25) / 3.0 * 2.0)
        for g in (actual - 0.5, actual + 0.01, 1.0, 2.0):
            assert insight_points(g, actual, 1.25, 3.0, 2.0) <= best


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"guess": float("nan")}, "guess must be finite"),
        ({"baseline": float("inf")}, "baseline must be finite"),
        ({"scale": 0.0}, "scale must be positive"),
        ({"multiplier": 0.0}, "multiplier must be a positive"),
    ],
)
def test_points_reject_bad_input(kwargs: dict[str, float], match: str) -> None:
    args = {"guess": 0.0, "actual": 1.0, "baseline": 0.5, "scale": 1.0, "multiplier": 1.0, **kwargs}
    with pytest.raises(ValueError, match=match):
        insight_points(**args)


def test_round_result_points_use_the_round_mean_and_keep_closeness() -> None:
    ctx = gelu_unit()
    rs = make_rounds(ctx, Level.EXAMPLES, 5, seed=0)
    res = run_session(MeanBot(), rs, truth_from(ctx))
    r = res.results[0]
    mean, scale = r.round.hints.stats.mean, r.round.scale
    assert r.guess == mean and r.points == 0.0
    assert r.score == pytest.approx(round_score(mean, r.actual, scale)) and r.score > 0  # closeness unchanged
    assert r.max_points == pytest.approx(100 * abs(mean - r.actual) / scale * 1.5)
    d = res.to_dict()
    assert d["points_version"] == POINTS_VERSION and d["max_points"] == pytest.approx(res.max_points)
    assert d["results"][0]["points"] == 0.0 and d["results"][0]["score"] == r.score


def bot_sessions(ctx: ArrayContext, level: Level, n: int = 60) -> tuple[SessionResult, SessionResult]:
    """The mean bot and the ridge bot (fitted on the training split) on the same ``n`` rounds."""
    rs = make_rounds(ctx, level, n, seed=3)
    data = BotData.from_context(ctx, rs.training)
    return run_session(MeanBot(data), rs, truth_from(ctx)), run_session(RidgeBot(data), rs, truth_from(ctx))


def check_rewards_insight(mean: SessionResult, ridge: SessionResult) -> None:
    """The issue's bar: the mean bot earns ≈ 0 points a round (under 1 % of a perfect guess's), the level-3
    ridge bot ≥ 90 % of the maximum."""
    assert mean.max_points > 0
    assert mean.total_points <= 0.01 * mean.max_points, "hedging on the mean earns points"
    assert ridge.total_points >= 0.9 * ridge.max_points, "the level-3 ridge bot falls short of the maximum"


def test_mean_bot_earns_nothing_and_ridge_at_level_3_nearly_the_max() -> None:
    mean, ridge = bot_sessions(gelu_unit(), Level.WEIGHTS)
    check_rewards_insight(mean, ridge)
    assert mean.summary.mean_round_score is not None and mean.summary.mean_round_score > 40  # closeness rewards it


def test_mean_bot_earns_nothing_on_a_token_detector() -> None:
    rs = make_rounds(ctx := token_detector(), Level.EXAMPLES, 60, seed=3)
    res = run_session(MeanBot(BotData.from_context(ctx, rs.training)), rs, truth_from(ctx))
    assert res.max_points > 0 and res.total_points == pytest.approx(0.0, abs=1e-9)


def test_a_formula_that_rewards_hedging_fails_the_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """Planted fault: the old points (closeness × multiplier) give the mean bot most of the points."""

    def hedging(round: Round, guess: float, actual: float) -> float:
        return round_score(guess, actual, round.scale) * round.level.multiplier

    monkeypatch.setattr(session_mod, "round_points", hedging)
    mean, ridge = bot_sessions(gelu_unit(), Level.WEIGHTS)
    with pytest.raises(AssertionError, match="hedging on the mean earns points"):
        check_rewards_insight(mean, ridge)
