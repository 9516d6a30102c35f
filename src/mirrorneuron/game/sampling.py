"""Which examples a unit's rounds ask: a mixture of top-activating, quantile-bin and uniform-random draws.

Each draw carries ``weight`` = natural probability (1/N_eligible) ÷ the mixture probability of that example,
so a weighted mean over draws estimates the mean over the eligible examples. Level-1 reference examples
are split off first (:func:`split_references`) and never asked.
"""

from __future__ import annotations

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

    def __post_init__(self) -> None:
        props = (self.top, self.bins, self.random)
        if not all(math.isfinite(x) and x >= 0 for x in props) or abs(sum(props) - 1.0) > 1e-6:
            raise ValueError(f"sampling proportions top/bins/random must be >= 0 and sum to 1, got {props}")
        if self.n_bins < 1 or self.top_pool < 1:
            raise ValueError("n_bins and top_pool must be at least 1")
        if self.n_reference_top < 0 or self.n_reference_random < 0:
            raise ValueError("reference counts must be >= 0")


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
    return np.argsort(-values, kind="stable")[:k]


def quantile_bins(values: np.ndarray, n_bins: int) -> list[np.ndarray]:
    """Indices per quantile bin (edges = np.quantile at 0, 1/n, …, 1); a value on an edge goes up."""
    edges = np.quantile(values, np.linspace(0.0, 1.0, n_bins + 1))
    bin_of = np.searchsorted(edges[1:-1], values, side="right")
    return [np.flatnonzero(bin_of == b) for b in range(n_bins)]


def split_references(values: Any, plan: SamplingPlan, rng: np.random.Generator) -> References:
    """Pick level-1 references: a random subset of the top pool (shown sorted, highest first) plus random
    examples. At most half of the top pool and half of the rest become references, so rounds remain."""
    v = finite_array("values", values)
    if v.size == 0:
        raise ValueError("values is empty: no examples to sample from")
    pool = top_pool(v, plan.top_pool)
    top = rng.choice(pool, min(plan.n_reference_top, pool.size // 2), replace=False)
    top = top[np.argsort(-v[top], kind="stable")]
    rest = np.setdiff1d(np.arange(v.size), top)
    rand = rng.choice(rest, min(plan.n_reference_random, rest.size // 2), replace=False)
    mask = np.ones(v.size, dtype=bool)
    mask[top] = False
    mask[rand] = False
    mask.setflags(write=False)
    return References(tuple(int(i) for i in top), tuple(int(i) for i in rand), mask)


Cell = tuple[Source, float, np.ndarray]


def _cells(v: np.ndarray, plan: SamplingPlan, eligible: np.ndarray) -> list[Cell]:
    """(source, probability of picking this group, group indices): the top pool, each non-empty bin and
    all eligible examples. Strategies left with no examples are dropped and the rest renormalised."""
    pool = top_pool(v, plan.top_pool)
    bins = [b[eligible[b]] for b in quantile_bins(v, plan.n_bins)]
    strategies: list[tuple[Source, float, list[np.ndarray]]] = [
        ("top", plan.top, [pool[eligible[pool]]]),
        ("bin", plan.bins, [b for b in bins if b.size]),
        ("random", plan.random, [np.flatnonzero(eligible)]),
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


def draw(values: Any, plan: SamplingPlan, n: int, rng: np.random.Generator, exclude_mask: Any = None) -> list[Draw]:
    """Draw ``n`` examples: per draw pick a strategy by proportion, then top = uniform in the top pool,
    bin = uniform non-empty bin then uniform in it, random = uniform over eligible examples.

    Weights are the design weights (natural ÷ mixture probability). Within a call no example repeats until
    every eligible one was drawn: a group (the top pool, a bin) that is used up is skipped and the others
    renormalised, so the weights are exact while no group has run out and approximate after.
    """
    v, eligible = _prepare(values, exclude_mask)
    cells = _cells(v, plan, eligible)
    natural = 1.0 / int(eligible.sum())
    q = _mixture(v.size, cells)
    probs = np.array([p for _, p, _ in cells])
    member = np.zeros((len(cells), v.size), dtype=bool)
    for k, (_, _, g) in enumerate(cells):
        member[k, g] = True
    free = member.sum(axis=1)
    drawn = np.zeros(v.size, dtype=bool)
    out: list[Draw] = []
    for _ in range(n):
        if not free.any():  # every example drawn once: start over
            drawn[:] = False
            free = member.sum(axis=1)
        p = np.where(free > 0, probs, 0.0)
        k = int(rng.choice(len(cells), p=p / p.sum()))
        source, _, group = cells[k]
        left = group[~drawn[group]]
        i = int(left[int(rng.integers(left.size))])
        drawn[i] = True
        free = free - member[:, i]
        out.append(Draw(i, source, natural / float(q[i])))
    return out
