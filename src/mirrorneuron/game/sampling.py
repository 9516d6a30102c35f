"""Which examples a unit's rounds ask: a mixture of top-activating, quantile-bin and uniform-random draws.

Examples come in groups (a text model's window: a reveal shades the whole window, so its other tokens'
values are shown too; an image is its own group). :func:`training_mask` splits the groups once per model
into a *training* part — the level-0 facts, the level-1 references and everything bots fit on — and an
*asked* part; training examples are never asked. A game asks at most one example per group.

Each draw carries ``weight`` = natural probability (1/N_eligible) ÷ the mixture probability of that example,
so a weighted mean over draws estimates the mean over the eligible examples.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from mirrorneuron.game.scoring import finite_array

Source = Literal["top", "bin", "random"]


@dataclass(frozen=True)
class SamplingPlan:
    """Proportions of each strategy (sum to 1) and the sizes of the pools and the reference split."""

    top: float = 0.2
    bins: float = 0.5
    random: float = 0.3
    n_bins: int = 10
    top_pool: int = 50
    n_reference_top: int = 8
    n_reference_random: int = 8
    seed: int = 0
    training_fraction: float = 0.5  # share of groups (windows) kept for level-0/1 facts and bots, never asked

    def __post_init__(self) -> None:
        props = (self.top, self.bins, self.random)
        if not all(math.isfinite(x) and x >= 0 for x in props) or abs(sum(props) - 1.0) > 1e-6:
            raise ValueError(f"sampling proportions top/bins/random must be >= 0 and sum to 1, got {props}")
        if self.n_bins < 1 or self.top_pool < 1:
            raise ValueError("n_bins and top_pool must be at least 1")
        if self.n_reference_top < 0 or self.n_reference_random < 0:
            raise ValueError("reference counts must be >= 0")
        if not 0.0 < self.training_fraction < 1.0:
            raise ValueError(f"training_fraction must be between 0 and 1, got {self.training_fraction}")

    @classmethod
    def from_mix(cls, mix: dict[str, float] | None, seed: int = 0) -> SamplingPlan:
        """A plan from a ``{"top", "bins", "random"}`` mix (a study's ``sampling``); None: the default mix."""
        return cls(seed=seed) if not mix else cls(top=mix["top"], bins=mix["bins"], random=mix["random"], seed=seed)


DEFAULT_MIX: dict[str, float] = {"top": SamplingPlan.top, "bins": SamplingPlan.bins, "random": SamplingPlan.random}


def _splitmix64(x: np.ndarray) -> np.ndarray:
    z = x.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def training_mask(groups: Any, fraction: float = SamplingPlan.training_fraction) -> np.ndarray:
    """True for the examples whose group is in the training part: the ``round(fraction · G)`` groups with the
    lowest hash of their id (at least one, and at least one group left to ask). It depends only on the group
    ids, so every unit of a model, every level and every bot agree on it."""
    g = np.asarray(groups, dtype=np.int64).reshape(-1)
    ids, inverse = np.unique(g, return_inverse=True)
    if ids.size < 2:
        raise ValueError(f"a unit needs examples in at least 2 groups (windows or images), got {ids.size}")
    with np.errstate(over="ignore"):
        order = np.argsort(_splitmix64(ids), kind="stable")
    k = min(max(1, round(fraction * ids.size)), ids.size - 1)
    chosen = np.zeros(ids.size, dtype=bool)
    chosen[order[:k]] = True
    return chosen[inverse.reshape(-1)]


@dataclass(frozen=True)
class References:
    """Level-1 reference examples. ``held_out_mask[i]`` is True where example i is held out of the
    references, i.e. may be asked as a round; references themselves are never asked."""

    top: tuple[int, ...]
    random: tuple[int, ...]
    held_out_mask: np.ndarray

    @property
    def indices(self) -> tuple[int, ...]:
        return self.top + self.random


@dataclass(frozen=True)
class Draw:
    index: int
    source: Source
    weight: float


def top_pool(values: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` largest values, largest first (ties: lower index first)."""
    neg = -narrowed(np.asarray(values))
    if k <= 0:
        return np.zeros(0, dtype=np.intp)
    if k >= neg.size:
        return np.argsort(neg, kind="stable")
    # Equal to the stable argsort's first k: only the values up to the k-th (ties included) are sorted.
    kth = np.partition(neg, k - 1)[k - 1]
    candidates = np.flatnonzero(neg <= kth)
    return candidates[np.argsort(neg[candidates], kind="stable")][:k]


def narrowed(v: np.ndarray) -> np.ndarray:
    """``v`` as float32 when that loses nothing (a float16 or float32 harvest's values), else ``v``: a sort or
    partition of it orders the same numbers the same way (the conversion is exact and keeps order), in about
    half the time (twice as many values per SIMD vector)."""
    if v.dtype == np.float32:
        return v
    with np.errstate(over="ignore"):  # a value beyond float32's range becomes inf: not equal, so v is kept
        v32 = v.astype(np.float32)
    return v32 if np.array_equal(v32, v) else v


def sort_values(values: np.ndarray) -> np.ndarray:
    """= ``np.sort(values)``, sorted as float32 where that is exact (:func:`narrowed`); ``sorted_quantiles``
    interpolates its entries in float64 either way."""
    return np.sort(narrowed(values))


def sorted_quantiles(ascending: np.ndarray, qs: Any) -> np.ndarray:
    """``np.quantile(values, qs)`` (linear, in float64) from ``ascending = np.sort(values)`` (float32 or float64
    values; the entries read are converted exactly): the same order statistics and numpy's own interpolation
    steps, without its partition (which costs as much as the sort).
    One difference: where values hold zeros of both signs, a zero quantile may be -0.0 in one and 0.0 in the
    other (they compare equal, so a sort and a partition may place them differently)."""
    q = np.asarray(qs, dtype=np.float64)
    n = ascending.size
    virtual = (n - 1) * q  # numpy's "linear" virtual index, then its _get_indexes, _get_gamma and _lerp
    below = np.floor(virtual)
    above = below + 1
    past_end = virtual >= n - 1
    below[past_end] = -1
    above[past_end] = -1
    lo, hi = below.astype(np.intp), above.astype(np.intp)
    a, b = ascending[lo].astype(np.float64), ascending[hi].astype(np.float64)
    gamma = virtual - lo
    diff = b - a
    out = a + diff * gamma
    np.subtract(b, diff * (1 - gamma), out=out, where=gamma >= 0.5)
    return out


def quantile_bins(values: np.ndarray, n_bins: int, among: np.ndarray | None = None) -> list[np.ndarray]:
    """Indices per quantile bin (edges = np.quantile at 0, 1/n, …, 1 of all float64 ``values``); a value on an
    edge goes up. ``among``: ascending indices; only those are put in bins (the edges still come from all)."""
    # The quantiles are order statistics, so those of the sorted values are the same numbers (a zero's sign
    # aside, which no comparison below sees).
    edges = sorted_quantiles(sort_values(values), np.linspace(0.0, 1.0, n_bins + 1))
    x = values if among is None else values[among]
    # = np.searchsorted(edges[1:-1], x, side="right") (the edges are sorted): the number of inner edges
    # at or below each value, counted by one comparison per edge instead of a binary search per value
    bin_of = np.zeros(np.shape(x), dtype=np.min_scalar_type(n_bins))
    for edge in edges[1:-1]:
        bin_of += x >= edge
    # = [np.flatnonzero(bin_of == b) for b in range(n_bins)]: one stable (radix) sort by bin, cut per bin
    order = np.argsort(bin_of, kind="stable")
    return np.split(order if among is None else among[order], np.cumsum(np.bincount(bin_of, minlength=n_bins))[:-1])


def split_references(values: Any, plan: SamplingPlan, rng: np.random.Generator, training: Any = None) -> References:
    """Pick level-1 references among the ``training`` examples (default: all): a random subset of their top
    pool (shown sorted, highest first) plus random ones. At most half of each pool becomes references."""
    v = finite_array("values", values)
    if v.size == 0:
        raise ValueError("values is empty: no examples to sample from")
    candidates = np.arange(v.size) if training is None else np.flatnonzero(np.asarray(training, dtype=bool))
    pool = candidates[top_pool(v[candidates], plan.top_pool)]
    top = rng.choice(pool, min(plan.n_reference_top, pool.size // 2), replace=False)
    top = top[np.argsort(-v[top], kind="stable")]
    taken = np.zeros(v.size, dtype=bool)
    taken[top] = True
    rest = candidates[~taken[candidates]]  # = np.setdiff1d(candidates, top): candidates are sorted, unique
    rand = rng.choice(rest, min(plan.n_reference_random, rest.size // 2), replace=False)
    mask = np.ones(v.size, dtype=bool)
    mask[top] = False
    mask[rand] = False
    mask.setflags(write=False)
    return References(tuple(int(i) for i in top), tuple(int(i) for i in rand), mask)


Cell = tuple[Source, float, np.ndarray]


GroupRuns = tuple[np.ndarray, np.ndarray, np.ndarray]


def group_runs(groups: np.ndarray) -> GroupRuns:
    """``order``: the examples sorted by group (stable), so one group's examples are contiguous; example
    ``i``'s group is ``order[first[i]:last[i]]``."""
    order = np.argsort(groups, kind="stable")
    sorted_g = groups[order]
    breaks = np.flatnonzero(sorted_g[1:] != sorted_g[:-1]) + 1
    starts = np.concatenate(([0], breaks))
    ends = np.concatenate((breaks, [groups.size]))
    run = np.zeros(groups.size, dtype=np.int64)  # example k of the sorted order lies in run run[k]
    run[breaks] = 1
    run = np.cumsum(run)
    first, last = np.empty(groups.size, dtype=np.int64), np.empty(groups.size, dtype=np.int64)
    first[order], last[order] = starts[run], ends[run]
    return order, first, last


def _cells(v: np.ndarray, plan: SamplingPlan, eligible: np.ndarray, held_out: np.ndarray | None = None) -> list[Cell]:
    """(source, probability of picking this group, group indices): the top pool, each non-empty bin and
    all eligible examples. Strategies left with no examples are dropped and the rest renormalised.
    ``held_out``: ``np.flatnonzero(eligible)`` if already computed; then only those are put in bins."""
    pool = top_pool(v, plan.top_pool)
    if held_out is None:
        bins = [b[eligible[b]] for b in quantile_bins(v, plan.n_bins)]
        held_out = np.flatnonzero(eligible)
    else:
        bins = quantile_bins(v, plan.n_bins, among=held_out)
    strategies: list[tuple[Source, float, list[np.ndarray]]] = [
        ("top", plan.top, [pool[eligible[pool]]]),
        ("bin", plan.bins, [b for b in bins if b.size]),
        ("random", plan.random, [held_out]),
    ]
    kept = [(s, p, [g for g in gs if g.size]) for s, p, gs in strategies if p > 0]
    kept = [(s, p, gs) for s, p, gs in kept if gs]
    total = sum(p for _, p, _ in kept)
    return [(s, p / total / len(gs), g) for s, p, gs in kept for g in gs]


def _prepare(values: Any, exclude_mask: Any) -> tuple[np.ndarray, np.ndarray]:
    v = finite_array("values", values)
    eligible = np.ones(v.size, dtype=bool) if exclude_mask is None else ~np.asarray(exclude_mask, dtype=bool)
    if eligible.shape != v.shape:
        raise ValueError(f"exclude_mask has shape {eligible.shape}, values has {v.shape}")
    if not eligible.any():
        raise ValueError("no eligible examples: every example is excluded")
    return v, eligible


def _mixture(size: int, cells: list[Cell]) -> np.ndarray:
    q = np.zeros(size)
    for _, p, g in cells:
        q[g] += p / g.size
    return q


def mixture_probability(values: Any, plan: SamplingPlan, exclude_mask: Any = None) -> np.ndarray:
    """Probability that one draw picks each example (0 for excluded ones)."""
    v, eligible = _prepare(values, exclude_mask)
    return _mixture(v.size, _cells(v, plan, eligible))


class _Membership:
    """Which cells hold each example, without a [cells, N] mask: the cells are the top pool (≤ 1), disjoint
    bins and all eligible examples (≤ 1), so an example's cells are one of few patterns. ``pattern[i]`` =
    1 (in the random cell) + 2 (in the top cell) + 4·(1 + its bin among the bin cells, 0: none);
    ``table[pattern]`` is the cells' 0/1 row."""

    def __init__(self, cells: list[Cell], size: int) -> None:
        sources = [s for s, _, _ in cells]
        bins = [k for k, s in enumerate(sources) if s == "bin"]
        self.table = np.zeros((4 * (len(bins) + 1), len(cells)), dtype=np.int64)
        rows = np.arange(self.table.shape[0])
        for k, source in enumerate(sources):
            if source == "random":
                self.table[:, k] = rows & 1
            elif source == "top":
                self.table[:, k] = (rows >> 1) & 1
            else:
                self.table[:, k] = (rows >> 2) == bins.index(k) + 1
        self.pattern = np.zeros(size, dtype=np.int32)
        in_random = int("random" in sources)
        if bins:  # the non-empty bins hold every eligible example, as the random cell does
            for j, k in enumerate(bins):
                self.pattern[cells[k][2]] = in_random + 4 * (j + 1)
        elif in_random:
            self.pattern[cells[sources.index("random")][2]] = 1
        if "top" in sources:
            self.pattern[cells[sources.index("top")][2]] += 2

    def counts(self, examples: np.ndarray) -> np.ndarray:
        """= member[:, examples].sum(axis=1): how many of ``examples`` each cell holds."""
        return np.bincount(self.pattern[examples], minlength=self.table.shape[0]) @ self.table

    def cells_of(self, i: int) -> list[int]:
        """= np.flatnonzero(member[:, i]): the cells holding example ``i``, ascending."""
        return np.flatnonzero(self.table[self.pattern[i]]).tolist()


def draw(
    values: Any,
    plan: SamplingPlan,
    n: int,
    rng: np.random.Generator,
    exclude_mask: Any = None,
    groups: Any = None,
    runs: GroupRuns | None = None,
    *,
    held_out: np.ndarray | None = None,
) -> list[Draw]:
    """Draw up to ``n`` examples: per draw pick a strategy by proportion, then top = uniform in the top pool,
    bin = uniform non-empty bin then uniform in it, random = uniform over eligible examples.

    No example repeats and, with ``groups``, no two draws share a group (a drawn example uses up its whole
    group). A strategy group (the top pool, a bin) that is used up is skipped and the others renormalised, so
    the weights (natural ÷ mixture probability) are exact while none has run out and approximate after.
    Fewer than ``n`` come back when the eligible examples run out. ``runs``: ``group_runs(groups)`` and
    ``held_out``: ``np.flatnonzero(~exclude_mask)``, if already computed (every unit of a site shares them);
    the draw is the same either way.
    """
    v, eligible = _prepare(values, exclude_mask)
    g = np.arange(v.size) if groups is None else np.asarray(groups, dtype=np.int64).reshape(-1)
    if g.shape != v.shape:
        raise ValueError(f"groups has shape {g.shape}, values has {v.shape}")
    n_eligible = int(eligible.sum())
    if held_out is not None and held_out.size != n_eligible:
        raise ValueError(f"held_out has {held_out.size} examples, exclude_mask leaves {n_eligible} eligible")
    cells = _cells(v, plan, eligible, held_out)
    natural = 1.0 / n_eligible
    share = [p / c.size for _, p, c in cells]  # what _mixture adds per cell
    probs = np.array([p for _, p, _ in cells])
    member = _Membership(cells, v.size)
    free = np.array([c.size for _, _, c in cells])  # a cell's examples not drawn yet
    drawn = np.zeros(v.size, dtype=bool)
    taken: list[np.ndarray] = []  # the examples drawn so far (their groups)
    order, first, last = group_runs(g) if runs is None else runs
    out: list[Draw] = []
    while len(out) < n and free.any():
        p = np.where(free > 0, probs, 0.0)
        k = _choice(rng, p / p.sum())
        source, _, cell = cells[k]
        r = int(rng.integers(int(free[k])))
        if source == "random":  # the largest cell, ascending (all eligible examples): found from the drawn ones
            i = _nth_not_drawn(cell, eligible, np.sort(np.concatenate(taken), kind="stable") if taken else None, r)
        else:
            i = int(cell[~drawn[cell]][r])
        used = order[first[i] : last[i]]
        used = used[~drawn[used]]
        drawn[used] = True
        taken.append(used)
        free = free - member.counts(used)
        # = natural / _mixture(v.size, cells)[i]: the same sum, in the same order, for this example only
        q = 0.0
        for j in member.cells_of(i):
            q += share[j]
        out.append(Draw(i, source, natural / q))
    return out


def _choice(rng: np.random.Generator, p: np.ndarray) -> int:
    """= ``int(rng.choice(p.size, p=p))`` for probabilities ``p`` that sum to 1: numpy's own steps (its cdf, one
    uniform, a search), without its argument checks, which cost most of a draw step."""
    cdf = p.cumsum()
    cdf /= cdf[-1]
    return int(cdf.searchsorted(rng.random(), side="right"))


def _nth_not_drawn(cell: np.ndarray, in_cell: np.ndarray, drawn: np.ndarray | None, r: int) -> int:
    """``cell[~drawn_mask[cell]][r]`` for an ascending ``cell`` (``in_cell``: its mask over all examples), from
    the sorted drawn examples instead of a pass over the whole cell: the r-th free position is r plus the
    number of drawn positions d_j (j-th in order) with d_j - j <= r, found by bisection (d_j - j never
    decreases), so only a few d_j are looked up."""
    if drawn is None:
        return int(cell[r])
    mine = drawn[in_cell[drawn]]
    return int(cell[r + bisect.bisect_right(range(mine.size), r, key=lambda j: int(cell.searchsorted(mine[j])) - j)])
