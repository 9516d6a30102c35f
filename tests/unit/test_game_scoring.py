"""Scoring (DESIGN.md §6) against hand-computed values."""

import json
import math

import numpy as np
import pytest

from mirrorneuron.game import round_score, summarize, unit_scale


def test_unit_scale_is_q99_minus_q01() -> None:
    # 0..100: q01 = 1, q99 = 99 (linear interpolation lands exactly on the grid) -> 98
    assert unit_scale(np.arange(101)) == pytest.approx(98.0)


def test_unit_scale_falls_back_to_range_then_floor() -> None:
    # 200 zeros and one 5: q99 at position 0.99*200 = 198 -> 0, q01 -> 0, so fall back to max - min = 5
    assert unit_scale([0.0] * 200 + [5.0]) == 5.0
    assert unit_scale([3.0, 3.0, 3.0]) == 1e-8


@pytest.mark.parametrize("bad", [[1.0, math.nan], [math.inf, 0.0]])
def test_unit_scale_rejects_non_finite(bad: list[float]) -> None:
    with pytest.raises(ValueError, match="values contains NaN or inf"):
        unit_scale(bad)


def test_unit_scale_rejects_empty() -> None:
    with pytest.raises(ValueError, match="empty"):
        unit_scale([])


def test_round_score_hand_values() -> None:
    assert round_score(3.0, 1.0, 4.0) == 50.0  # 100 * (1 - 2/4)
    assert round_score(1.0, 1.0, 4.0) == 100.0
    assert round_score(-0.5, 0.5, 4.0) == 75.0  # 100 * (1 - 1/4)
    assert round_score(10.0, 1.0, 4.0) == 0.0  # 1 - 9/4 < 0 -> clipped to 0


def test_round_score_rejects_non_finite_and_bad_scale() -> None:
    with pytest.raises(ValueError, match="guess must be finite"):
        round_score(math.nan, 1.0, 1.0)
    with pytest.raises(ValueError, match="scale must be positive"):
        round_score(1.0, 1.0, 0.0)


def test_summarize_hand_computed() -> None:
    a, p = [0.0, 1.0, 2.0, 3.0], [0.0, 2.0, 2.0, 4.0]
    s = summarize(a, p, scale=4.0)
    # mean a = 1.5, a - mean = [-1.5, -.5, .5, 1.5], mean((a-ā)^2) = (2.25+.25+.25+2.25)/4 = 1.25
    # mean p = 2, p - mean = [-2, 0, 0, 2], var p = 2, cov = (3 + 0 + 0 + 3)/4 = 1.5
    # r = 1.5 / sqrt(1.25 * 2) = 0.9486832980505138
    assert s.n == 4
    assert s.correlation == pytest.approx(1.5 / math.sqrt(2.5))
    # a - p = [0, -1, 0, -1]: mse = 0.5 -> r2 = 1 - 0.5/1.25 = 0.6
    assert s.r2 == pytest.approx(0.6)
    # mean|a-p| = 0.5, mean|a-ā| = (1.5+.5+.5+1.5)/4 = 1 -> 0.5
    assert s.abs_dev_explained == pytest.approx(0.5)
    # round scores with scale 4: [100, 75, 100, 75] -> 87.5
    assert s.mean_round_score == pytest.approx(87.5)
    assert s.correlation_flag is None and s.flags == ()
    assert s.weighted_correlation is None


def test_summarize_perfect() -> None:
    s = summarize([1.0, 5.0, 2.0], [1.0, 5.0, 2.0], scale=1.0)
    assert (s.correlation, s.r2, s.abs_dev_explained, s.mean_round_score) == pytest.approx((1, 1, 1, 100))


def test_constant_prediction_is_zero_and_flagged() -> None:
    # predicting the mean 2 of [1, 2, 3]: r2 = 1 - var/var = 0, abs dev explained = 1 - 1 = 0
    s = summarize([1.0, 2.0, 3.0], [2.0, 2.0, 2.0])
    assert s.correlation == 0.0 and s.correlation_flag == "constant_prediction"
    assert s.r2 == pytest.approx(0.0) and s.abs_dev_explained == pytest.approx(0.0)
    assert s.mean_round_score is None
    # a constant that is not the mean: r2 = 1 - mean((a-5)^2)/var = 1 - (16+9+4)/3 / (2/3) = -13.5
    assert summarize([1.0, 2.0, 3.0], [5.0, 5.0, 5.0]).r2 == pytest.approx(-13.5)


def test_constant_actual_is_zero_and_flagged() -> None:
    s = summarize([2.0, 2.0, 2.0], [1.0, 2.0, 3.0])
    assert (s.correlation, s.r2, s.abs_dev_explained) == (0.0, 0.0, 0.0)
    assert s.correlation_flag == "constant_actual" and s.flags == ("constant_actual",)
    both = summarize([2.0, 2.0], [1.0, 1.0])
    assert both.correlation_flag == "constant_actual"
    assert set(both.flags) == {"constant_actual", "constant_prediction"}


@pytest.mark.parametrize("where", ["actual", "predicted"])
def test_summarize_rejects_nan(where: str) -> None:
    good, bad = [1.0, 2.0, 3.0], [1.0, math.nan, 3.0]
    args = (bad, good) if where == "actual" else (good, bad)
    with pytest.raises(ValueError, match=f"{where} contains NaN or inf at position"):
        summarize(*args)


def test_summarize_rejects_mismatch_and_bad_weights() -> None:
    with pytest.raises(ValueError, match="predicted has 2"):
        summarize([1.0, 2.0, 3.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="non-negative"):
        summarize([1.0, 2.0], [1.0, 2.0], weights=[1.0, -1.0])
    with pytest.raises(ValueError, match="sum to 0"):
        summarize([1.0, 2.0], [1.0, 2.0], weights=[0.0, 0.0])


def test_weighted_hand_computed() -> None:
    s = summarize([0.0, 1.0, 2.0], [0.0, 2.0, 1.0], scale=2.0, weights=[2.0, 1.0, 1.0])
    # unweighted: ā = 1, a-ā = [-1,0,1], p-p̄ = [-1,1,0]: cov = 1/3, var = 2/3 -> r = 0.5
    assert s.correlation == pytest.approx(0.5)
    # weighted (w/sum = [.5,.25,.25]): ā_w = p̄_w = 0.75; da = [-.75,.25,1.25], dp = [-.75,1.25,.25]
    # cov = (2*.5625 + .3125 + .3125)/4 = .4375; var_a = var_p = (2*.5625 + .0625 + 1.5625)/4 = .6875
    assert s.weighted_correlation == pytest.approx(0.4375 / 0.6875)  # 7/11
    # a-p = [0,-1,1]: weighted mse = (0+1+1)/4 = .5 -> 1 - .5/.6875 = 3/11
    assert s.weighted_r2 == pytest.approx(3 / 11)
    # weighted |a-p| = .5, weighted |da| = (2*.75+.25+1.25)/4 = .75 -> 1 - 2/3
    assert s.weighted_abs_dev_explained == pytest.approx(1 / 3)
    # scores with scale 2: [100, 50, 50] -> weighted (200+50+50)/4 = 75
    assert s.weighted_mean_round_score == pytest.approx(75.0)
    assert s.mean_round_score == pytest.approx(200 / 3)


def test_weighted_constant_prediction() -> None:
    s = summarize([0.0, 2.0], [1.0, 1.0], weights=[3.0, 1.0])
    # ā_w = .5, da = [-.5, 1.5]: var = (3*.25 + 2.25)/4 = .75; mse = 1 -> r2 = 1 - 1/.75 = -1/3
    assert s.weighted_r2 == pytest.approx(-1 / 3)
    # |a-p| = 1, weighted |da| = (1.5 + 1.5)/4 = .75 -> 1 - 1/.75 = -1/3
    assert s.weighted_abs_dev_explained == pytest.approx(-1 / 3)
    assert s.weighted_correlation == 0.0 and s.weighted_flags == ("constant_prediction",)


def test_integer_weights_equal_repeated_rows() -> None:
    rng = np.random.default_rng(0)
    a, p = rng.normal(size=6), rng.normal(size=6)
    w = np.array([1, 3, 1, 2, 1, 1])
    s = summarize(a, p, scale=1.5, weights=w)
    r = summarize(np.repeat(a, w), np.repeat(p, w), scale=1.5)
    got = (s.weighted_correlation, s.weighted_r2, s.weighted_abs_dev_explained, s.weighted_mean_round_score)
    assert got == pytest.approx((r.correlation, r.r2, r.abs_dev_explained, r.mean_round_score))


def test_per_round_scale_and_empty_and_json() -> None:
    s = summarize([0.0, 0.0], [1.0, 1.0], scale=[2.0, 4.0])  # scores 50 and 75
    assert s.mean_round_score == pytest.approx(62.5)
    empty = summarize([], [], scale=1.0, weights=[])
    assert empty.n == 0 and empty.flags == ("empty",) and empty.correlation == 0.0
    json.dumps(summarize([1.0, 2.0], [2.0, 1.0], scale=1.0, weights=[1.0, 1.0]).to_dict())
