"""``scoring.pooled_correlation`` is ``summarize``'s correlation and flag, bit for bit, on every kind of input
(the finders read it instead of the full summary); faults planted in a copy of it are caught."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from mirrorneuron.game.scoring import CONSTANT_ACTUAL, CONSTANT_PREDICTION, pooled_correlation, summarize
from mirrorneuron.game.session import SessionResult

Fn = Callable[[np.ndarray, np.ndarray], tuple[float, str | None]]


def _cases() -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(0)
    out = [(np.zeros(0), np.zeros(0)), (np.ones(5), np.ones(5)), (np.ones(5), np.arange(5.0))]
    out += [(np.arange(5.0), np.full(5, 2.0)), (np.array([1e-3, 2e-3, 1e9]), np.array([3.0, -1.0, 2.0]))]
    for n in (2, 3, 7, 40, 40, 40, 200):
        a = rng.normal(size=n) * rng.choice([1e-6, 1.0, 1e6])
        p = a * rng.normal() + rng.normal(size=n) * rng.uniform(0, 2)
        out.append((a, p))
        relu = np.maximum(a / np.abs(a).max(), 0).astype(np.float16).astype(np.float64)
        out.append((relu, p))  # ReLU-like, rounded to float16: ties
    return out


def _disagreements(fn: Fn) -> int:
    bad = 0
    for a, p in _cases():
        s = summarize(a, p)
        corr, flag = fn(a, p)
        bad += not (corr == s.correlation and math.copysign(1, corr) == math.copysign(1, s.correlation))
        bad += flag != s.correlation_flag
    return bad


def test_pooled_correlation_is_summarizes_bit_for_bit() -> None:
    assert _disagreements(pooled_correlation) == 0
    assert pooled_correlation(np.ones(4), np.ones(4)) == (0.0, CONSTANT_ACTUAL)
    assert pooled_correlation(np.arange(4.0), np.ones(4)) == (0.0, CONSTANT_PREDICTION)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.floats(-1e6, 1e6), st.floats(-1e6, 1e6)), max_size=60))
def test_pooled_correlation_equals_summarize_on_any_rounds(pairs: list[tuple[float, float]]) -> None:
    a, p = np.array([x for x, _ in pairs]), np.array([y for _, y in pairs])
    s = summarize(a, p)
    assert pooled_correlation(a, p) == (s.correlation, s.correlation_flag)


def _mean_centred(a: np.ndarray, p: np.ndarray) -> tuple[float, str | None]:
    """Planted fault: centred on ``mean()`` (other rounding than summarize's weighted sums)."""
    corr, flag = pooled_correlation(a, p)
    if flag is not None or a.size == 0:
        return corr, flag
    da, dp = a - a.mean(), p - p.mean()
    return max(-1.0, min(1.0, float(da @ dp / math.sqrt((da @ da) * (dp @ dp))))), None


def _prediction_flag_first(a: np.ndarray, p: np.ndarray) -> tuple[float, str | None]:
    """Planted fault: a constant prediction's flag wins over a constant actual's."""
    corr, flag = pooled_correlation(a, p)
    both = flag == CONSTANT_ACTUAL and a.size and np.ptp(p) == 0
    return (corr, CONSTANT_PREDICTION) if both else (corr, flag)


def test_planted_faults_are_caught() -> None:
    assert _disagreements(_mean_centred) > 0
    assert _disagreements(_prediction_flag_first) > 0


def test_a_sessions_summary_is_made_on_first_use_and_kept() -> None:
    result = SessionResult("bot", ())
    assert "summary" not in result.__dict__
    assert result.summary == summarize([], []) and result.summary is result.summary
