"""The draw's round-4 shortcuts (quantile bins from one sort and one stable sort by bin; a random draw found
from the drawn examples instead of a pass over every eligible one; the mixture probability summed only at the
drawn example) draw exactly what the old code drew: the old functions are kept here as the reference, and each
planted fault in a shortcut is caught."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

from mirrorneuron.game import SamplingPlan
from mirrorneuron.game import sampling as sampling_mod
from mirrorneuron.game.sampling import Draw, GroupRuns, _cells, _mixture, _prepare, group_runs

FAST_QUANTILE_BINS = sampling_mod.quantile_bins
FAST_DRAW = sampling_mod.draw


def old_quantile_bins(values: np.ndarray, n_bins: int) -> list[np.ndarray]:
    edges = np.quantile(values, np.linspace(0.0, 1.0, n_bins + 1))
    bin_of = np.zeros(np.shape(values), dtype=np.intp)
    for edge in edges[1:-1]:
        bin_of += values >= edge
    return [np.flatnonzero(bin_of == b) for b in range(n_bins)]


def old_draw(
    values: Any,
    plan: SamplingPlan,
    n: int,
    rng: np.random.Generator,
    exclude_mask: Any = None,
    groups: Any = None,
    runs: GroupRuns | None = None,
) -> list[Draw]:
    """The draw as it was: the whole mixture, and each draw's free examples by a pass over its cell."""
    v, eligible = _prepare(values, exclude_mask)
    g = np.arange(v.size) if groups is None else np.asarray(groups, dtype=np.int64).reshape(-1)
    cells = _cells(v, plan, eligible)
    natural = 1.0 / int(eligible.sum())
    q = _mixture(v.size, cells)
    probs = np.array([p for _, p, _ in cells])
    member = np.zeros((len(cells), v.size), dtype=bool)
    for k, (_, _, c) in enumerate(cells):
        member[k, c] = True
    free = member.sum(axis=1)
    drawn = np.zeros(v.size, dtype=bool)
    order, first, last = group_runs(g) if runs is None else runs
    out: list[Draw] = []
    while len(out) < n and free.any():
        p = np.where(free > 0, probs, 0.0)
        k = int(rng.choice(len(cells), p=p / p.sum()))
        source, _, cell = cells[k]
        left = cell[~drawn[cell]]
        i = int(left[int(rng.integers(left.size))])
        used = order[first[i] : last[i]]
        used = used[~drawn[used]]
        drawn[used] = True
        free = free - member[:, used].sum(axis=1)
        out.append(Draw(i, source, natural / float(q[i])))
    return out


Case = tuple[np.ndarray, np.ndarray, np.ndarray | None, SamplingPlan, int]


def cases() -> Iterator[Case]:
    """Dense, ReLU-like (many exact zeros, ±0 mixed), rounded (ties everywhere) and tiny units; equal, uneven
    and shuffled groups; no exclusion, whole groups excluded (the game's training half) and single examples
    excluded (groups left partly eligible); plans with every strategy, random only, a tiny top pool."""
    rng = np.random.default_rng(4)
    plans = (SamplingPlan(), SamplingPlan(top=0.0, bins=0.0, random=1.0), SamplingPlan(top_pool=3, n_bins=4))
    for n_groups, size in ((3, 2), (40, 8), (400, 16)):
        equal = np.repeat(np.arange(n_groups), size)
        uneven = np.sort(rng.integers(0, n_groups, equal.size))
        uneven[:n_groups] = np.arange(n_groups)
        for groups in (equal, rng.permutation(uneven), rng.permutation(equal) * 5 + 1):
            x = rng.standard_normal(groups.size)
            relu = np.where(rng.random(groups.size) < 0.5, -0.0, np.maximum(x - 0.5, 0.0))
            whole = np.isin(groups, rng.permutation(np.unique(groups))[: n_groups // 2])
            single = rng.random(groups.size) < 0.1
            for k, v in enumerate((x, relu, np.round(x))):
                for exclude in (None, whole, single):
                    yield v, groups, exclude, plans[k], int(rng.integers(1000))


def same_draws(quantile_bins: Callable[..., Any] | None = None, **patch: Any) -> bool:
    """The fast draw (with ``patch`` applied to the sampling module) against the old one on every case."""
    mp = pytest.MonkeyPatch()
    try:
        for name, f in patch.items():
            mp.setattr(sampling_mod, name, f)
        for v, groups, exclude, plan, seed in cases():
            mp.setattr(sampling_mod, "quantile_bins", old_quantile_bins)
            old = old_draw(v, plan, 60, np.random.default_rng(seed), exclude, groups)
            mp.setattr(sampling_mod, "quantile_bins", quantile_bins or FAST_QUANTILE_BINS)
            new = FAST_DRAW(v, plan, 60, np.random.default_rng(seed), exclude, groups)
            if new != old or sampling_mod.mixture_probability(v, plan, exclude).tolist() != _old_mixture(
                v, plan, exclude
            ):
                return False
        return True
    finally:
        mp.undo()


def _old_mixture(v: np.ndarray, plan: SamplingPlan, exclude: np.ndarray | None) -> list[float]:
    mp = pytest.MonkeyPatch()
    mp.setattr(sampling_mod, "quantile_bins", old_quantile_bins)
    try:
        return sampling_mod.mixture_probability(v, plan, exclude).tolist()
    finally:
        mp.undo()


def test_the_fast_draw_equals_the_old_draw_draw_by_draw() -> None:
    assert same_draws()


def test_the_fast_quantile_bins_equal_the_old_ones() -> None:
    rng = np.random.default_rng(5)
    for v in (rng.standard_normal(1000), np.zeros(50), np.round(rng.standard_normal(3000)), np.array([0.0, -0.0])):
        for n_bins in (1, 3, 10, 300):
            new, old = FAST_QUANTILE_BINS(v, n_bins), old_quantile_bins(v, n_bins)
            assert len(new) == len(old) and all(np.array_equal(a, b) for a, b in zip(new, old, strict=True))


def _off_by_one(cell: np.ndarray, in_cell: np.ndarray, drawn: np.ndarray | None, r: int) -> int:
    """Planted fault: the drawn examples counted with ``side="left"`` (a free example right after one is missed)."""
    if drawn is None:
        return int(cell[r])
    positions = np.searchsorted(cell, drawn[in_cell[drawn]])
    return int(cell[r + int(np.searchsorted(positions - np.arange(positions.size), r, side="left"))])


def _unsorted_bins(values: np.ndarray, n_bins: int) -> list[np.ndarray]:
    """Planted fault: the right bins, each in descending index order (draws pick by position in the bin)."""
    return [b[::-1] for b in FAST_QUANTILE_BINS(values, n_bins)]


def test_a_planted_fault_in_a_shortcut_is_caught() -> None:
    assert not same_draws(_nth_not_drawn=_off_by_one)
    assert not same_draws(quantile_bins=_unsorted_bins)
