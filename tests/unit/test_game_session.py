"""Sessions: every player goes through run_session; oracle, mean and interrupted players."""

import itertools
import json
import math

import numpy as np
import pytest

from mirrorneuron.game import (
    ArrayContext,
    Contributions,
    Level,
    Reveal,
    Round,
    StopSession,
    TextExample,
    make_rounds,
    moving_mean,
    run_session,
    running_mean,
    truth_from,
)


def context(n: int = 200) -> ArrayContext:
    rng = np.random.default_rng(0)
    pre = rng.normal(0.0, 1.0, n)
    values = np.maximum(pre, 0.0) + np.arange(n) * 1e-6
    examples = [TextExample(("a", f"t{i % 7}", "b"), 1) for i in range(n)]
    contribs = [Contributions((("x", p * 0.3), ("y", p * 0.7)), 0.0, "relu") for p in pre]
    return ArrayContext("fake/site/neuron/0", values, examples, [[] for _ in range(n)], contribs)


class Recorder:
    """Base bot: records what it observes."""

    name = "recorder"

    def __init__(self) -> None:
        self.seen: list[tuple[Round, Reveal]] = []

    def guess(self, round: Round) -> float:
        return 0.0

    def observe(self, round: Round, reveal: Reveal) -> None:
        self.seen.append((round, reveal))


class Oracle(Recorder):
    name = "oracle"

    def __init__(self, ctx: ArrayContext) -> None:
        super().__init__()
        self.ctx = ctx

    def guess(self, round: Round) -> float:
        return float(self.ctx.values[round.index])


class Calculator(Recorder):
    """Computes the answer from level-3 contributions only."""

    name = "calculator"

    def guess(self, round: Round) -> float:
        assert round.hints.contributions is not None
        return round.hints.contributions.value() + 1e-6 * round.index  # the context's tie-breaking offset


class MeanBot(Recorder):
    name = "mean"

    def guess(self, round: Round) -> float:
        return round.hints.stats.mean


class Fixed(Recorder):
    def __init__(self, answers: list[object], raise_at: int | None = None, exc: type = KeyboardInterrupt):
        super().__init__()
        self.name = "fixed"
        self.answers, self.raise_at, self.exc, self.calls = answers, raise_at, exc, 0

    def guess(self, round: Round) -> float:
        if self.calls == self.raise_at:
            raise self.exc()
        self.calls += 1
        return self.answers[(self.calls - 1) % len(self.answers)]  # type: ignore[return-value]


def test_oracle_scores_100_and_r_1() -> None:
    ctx = context()
    rs = make_rounds(ctx, Level.BLIND, 40, seed=0)
    res = run_session(Oracle(ctx), rs, truth_from(ctx))
    s = res.summary
    assert not res.interrupted and s.n == 40
    assert (s.mean_round_score, s.correlation, s.r2, s.abs_dev_explained) == pytest.approx((100, 1, 1, 1))
    assert (s.weighted_mean_round_score, s.weighted_correlation) == pytest.approx((100, 1))
    assert res.learning_curve() == pytest.approx(np.full(40, 100.0))
    best = sum(100 * abs(r.actual - rs.stats.mean) / rs.stats.scale * Level.BLIND.multiplier for r in res.results)
    assert res.total_points == pytest.approx(best) and res.max_points == pytest.approx(best) and best > 0


def test_level3_calculator_is_exact() -> None:
    ctx = context()
    res = run_session(Calculator(), make_rounds(ctx, Level.WEIGHTS, 30, seed=1), truth_from(ctx))
    assert res.summary.mean_round_score == pytest.approx(100.0)
    assert res.summary.correlation == pytest.approx(1.0)


def test_mean_bot_has_r_0_flagged() -> None:
    ctx = context()
    res = run_session(MeanBot(), make_rounds(ctx, Level.BLIND, 40, seed=2), truth_from(ctx))
    assert res.summary.correlation == 0.0
    assert res.summary.correlation_flag == "constant_prediction"
    assert res.summary.weighted_flags == ("constant_prediction",)


def test_feedback_switch() -> None:
    ctx = context()
    rs = make_rounds(ctx, Level.EXAMPLES, 10, seed=3)
    on, off = Oracle(ctx), Oracle(ctx)
    run_session(on, rs, truth_from(ctx), feedback=True)
    run_session(off, rs, truth_from(ctx), feedback=False)
    assert len(on.seen) == 10 and off.seen == []
    rnd, reveal = on.seen[0]
    assert rnd is rs.rounds[0] and reveal.actual == ctx.values[rnd.index] and reveal.score == 100.0


@pytest.mark.parametrize("exc", [KeyboardInterrupt, StopSession])
def test_interrupt_keeps_partial_result(exc: type) -> None:
    ctx = context()
    rs = make_rounds(ctx, Level.BLIND, 10, seed=4)
    res = run_session(Fixed([0.0, 1.0], raise_at=3, exc=exc), rs, truth_from(ctx))
    assert res.interrupted and len(res.results) == 3 and res.summary.n == 3
    assert [r.guess for r in res.results] == [0.0, 1.0, 0.0]
    json.dumps(res.to_dict())


def test_interrupt_before_any_round() -> None:
    ctx = context()
    res = run_session(Fixed([0.0], raise_at=0), make_rounds(ctx, Level.BLIND, 5), truth_from(ctx))
    assert res.interrupted and res.results == () and res.summary.flags == ("empty",)
    assert res.learning_curve().size == 0


@pytest.mark.parametrize("bad", [math.nan, math.inf, "seven", None])
def test_bad_guess_raises(bad: object) -> None:
    ctx = context()
    with pytest.raises(ValueError, match=r"guess must be a finite number|not a number"):
        run_session(Fixed([bad]), make_rounds(ctx, Level.BLIND, 3), truth_from(ctx))


def test_round_result_fields_and_timing() -> None:
    ctx = context()
    rs = make_rounds(ctx, Level.EXAMPLES, 4, seed=5)
    ticks = itertools.count(step=0.5)
    res = run_session(Fixed([0.25]), rs, truth_from(ctx), clock=lambda: next(ticks))
    r = res.results[0]
    assert r.seconds == 0.5 and r.guess == 0.25 and r.actual == ctx.values[r.round.index]
    expected = 100 * max(0.0, 1 - abs(0.25 - r.actual) / rs.stats.scale)
    assert r.score == pytest.approx(expected)
    gain = abs(rs.stats.mean - r.actual) - abs(0.25 - r.actual)
    assert r.points == pytest.approx(100 * max(0.0, gain) / rs.stats.scale * Level.EXAMPLES.multiplier)


def test_learning_curves_hand_computed() -> None:
    x = [0.0, 100.0, 50.0, 50.0]
    assert running_mean(x).tolist() == [0.0, 50.0, 50.0, 50.0]  # 0/1, 100/2, 150/3, 200/4
    assert moving_mean(x, 2).tolist() == [0.0, 50.0, 75.0, 50.0]  # 0/1, (0+100)/2, (100+50)/2, (50+50)/2
    with pytest.raises(ValueError, match="window"):
        moving_mean(x, 0)
