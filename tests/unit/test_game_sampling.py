"""Sampling plan: reference split, mixture draws and their natural-distribution weights."""

from collections import Counter

import numpy as np
import pytest

from mirrorneuron.game import (
    SamplingPlan,
    draw,
    mixture_probability,
    quantile_bins,
    split_references,
    top_pool,
)


def skewed(n: int = 2000, seed: int = 0) -> np.ndarray:
    """Mostly zeros plus a heavy tail: the unweighted mean of top/bin draws is far from the true mean."""
    rng = np.random.default_rng(seed)
    return np.where(rng.random(n) < 0.8, 0.0, rng.lognormal(0.0, 1.5, n))


def test_plan_validates_proportions() -> None:
    with pytest.raises(ValueError, match="sum to 1"):
        SamplingPlan(top=0.5, bins=0.5, random=0.5)
    with pytest.raises(ValueError, match=">= 0"):
        SamplingPlan(top=-0.1, bins=0.8, random=0.3)
    with pytest.raises(ValueError, match="n_bins"):
        SamplingPlan(n_bins=0)


def test_top_pool_and_quantile_bins() -> None:
    v = np.array([0.0, 5.0, 1.0, 5.0, 3.0])
    assert top_pool(v, 3).tolist() == [1, 3, 4]  # ties keep the lower index first
    bins = quantile_bins(np.array([0.0] * 8 + [1.0, 2.0]), 4)
    # edges = quantiles at 0, .25, .5, .75, 1 = [0, 0, 0, 0, 2] (position 0.75*9 = 6.75 -> 0)
    # searchsorted(right) on interior edges [0, 0, 0]: zeros -> bin 3, 1 and 2 -> bin 3 too
    assert [b.size for b in bins] == [0, 0, 0, 10]
    bins = quantile_bins(np.arange(8.0), 4)  # edges [0, 1.75, 3.5, 5.25, 7]
    assert [b.tolist() for b in bins] == [[0, 1], [2, 3], [4, 5], [6, 7]]


def test_split_references() -> None:
    v = skewed()
    plan = SamplingPlan()
    refs = split_references(v, plan, np.random.default_rng(1))
    assert len(refs.top) == 8 and len(refs.random) == 8
    assert len(set(refs.indices)) == 16
    pool = set(top_pool(v, plan.top_pool).tolist())
    assert set(refs.top) <= pool
    assert list(v[list(refs.top)]) == sorted(v[list(refs.top)], reverse=True)
    assert not refs.held_out_mask[list(refs.indices)].any()
    assert refs.held_out_mask.sum() == v.size - 16


def test_split_references_keeps_rounds_on_tiny_units() -> None:
    refs = split_references(np.arange(6.0), SamplingPlan(top_pool=4), np.random.default_rng(0))
    assert len(refs.top) == 2  # at most half the top pool
    assert len(refs.random) == 2  # at most half of the remaining 4
    assert refs.held_out_mask.sum() == 2


def test_hand_computed_weights() -> None:
    v = np.arange(10.0)
    plan = SamplingPlan(top=0.5, bins=0.0, random=0.5, top_pool=2)
    q = mixture_probability(v, plan)
    # top items 8, 9: 0.5/2 + 0.5/10 = 0.3; others 0.5/10 = 0.05; natural 1/10
    assert q[9] == pytest.approx(0.3) and q[0] == pytest.approx(0.05) and q.sum() == pytest.approx(1.0)
    weights = {d.index: d.weight for d in draw(v, plan, 10, np.random.default_rng(0))}
    for i, w in weights.items():
        assert w == pytest.approx(1 / 3 if i >= 8 else 2.0)


def test_draw_respects_exclusion_and_avoids_repeats() -> None:
    v = skewed(2000)
    exclude = np.zeros(2000, dtype=bool)
    exclude[top_pool(v, 10)] = True
    draws = draw(v, SamplingPlan(), 100, np.random.default_rng(3), exclude_mask=exclude)
    idx = [d.index for d in draws]
    assert not exclude[idx].any()
    assert len(set(idx)) == len(idx)  # no group (top pool of 40, bins of 200) runs out: exact weights
    counts = Counter(d.source for d in draws)
    assert 8 <= counts["top"] <= 32 and 35 <= counts["bin"] <= 65 and 15 <= counts["random"] <= 45
    with pytest.raises(ValueError, match="no eligible"):
        draw(v, SamplingPlan(), 1, np.random.default_rng(0), exclude_mask=np.ones(2000, dtype=bool))


def test_draw_never_repeats_and_stops_when_exhausted() -> None:
    draws = draw(np.arange(5.0), SamplingPlan(top_pool=2), 12, np.random.default_rng(0))
    # pools run out (top pool of 2, bins of 1): the other groups take over; no repeat, ever
    assert sorted(d.index for d in draws) == [0, 1, 2, 3, 4]


def test_draw_takes_at_most_one_example_per_group() -> None:
    v = skewed(600)
    groups = np.arange(600) // 20  # 30 windows of 20 tokens; top values cluster in windows
    draws = draw(v, SamplingPlan(), 100, np.random.default_rng(3), groups=groups)
    assert len(draws) == 30 and len({int(groups[d.index]) for d in draws}) == 30


def test_draw_is_deterministic_for_a_seed() -> None:
    v = skewed(300)
    a = draw(v, SamplingPlan(), 30, np.random.default_rng(7))
    b = draw(v, SamplingPlan(), 30, np.random.default_rng(7))
    c = draw(v, SamplingPlan(), 30, np.random.default_rng(8))
    assert a == b and a != c


def test_weighted_mean_estimates_natural_mean() -> None:
    v = skewed()
    plan = SamplingPlan()
    weighted, unweighted = [], []
    for seed in range(150):
        draws = draw(v, plan, 40, np.random.default_rng(seed))
        w = np.array([d.weight for d in draws])
        x = v[[d.index for d in draws]]
        weighted.append(w @ x / w.sum())
        unweighted.append(x.mean())
    true = v.mean()
    assert abs(np.mean(unweighted) - true) > 2 * true  # oversampling the tail inflates the plain mean
    assert np.mean(weighted) == pytest.approx(true, rel=0.1)
