"""The fast draw (top pool by partition, a mask for the references' rest, one sort for the training mask and
the group runs, a precomputed training mask) asks exactly the rounds the old per-unit sorts asked: the old
functions are kept here as the reference and swapped in, and a planted fault in the fast path is caught."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from mirrorneuron.game import Draws, SamplingPlan, draw_examples, training_mask
from mirrorneuron.game import rounds as rounds_mod
from mirrorneuron.game import sampling as sampling_mod
from mirrorneuron.game.sampling import References, _splitmix64, finite_array


def old_top_pool(values: np.ndarray, k: int) -> np.ndarray:
    return np.argsort(-values, kind="stable")[:k]


def old_training_mask(groups: Any, fraction: float = SamplingPlan.training_fraction) -> np.ndarray:
    g = np.asarray(groups, dtype=np.int64).reshape(-1)
    ids = np.unique(g)
    with np.errstate(over="ignore"):
        order = ids[np.argsort(_splitmix64(ids), kind="stable")]
    k = min(max(1, round(fraction * ids.size)), ids.size - 1)
    return np.isin(g, order[:k])


def old_split_references(values: Any, plan: SamplingPlan, rng: np.random.Generator, training: Any = None) -> References:
    v = finite_array("values", values)
    candidates = np.arange(v.size) if training is None else np.flatnonzero(np.asarray(training, dtype=bool))
    pool = candidates[old_top_pool(v[candidates], plan.top_pool)]
    top = rng.choice(pool, min(plan.n_reference_top, pool.size // 2), replace=False)
    top = top[np.argsort(-v[top], kind="stable")]
    rest = np.setdiff1d(candidates, top)
    rand = rng.choice(rest, min(plan.n_reference_random, rest.size // 2), replace=False)
    mask = np.ones(v.size, dtype=bool)
    mask[top] = False
    mask[rand] = False
    return References(tuple(int(i) for i in top), tuple(int(i) for i in rand), mask)


def old_group_runs(g: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    order = np.argsort(g, kind="stable")
    bounds = np.searchsorted(g[order], g[order], side="left"), np.searchsorted(g[order], g[order], side="right")
    first, last = np.empty(g.size, dtype=np.int64), np.empty(g.size, dtype=np.int64)
    first[order], last[order] = bounds
    return order, first, last


@contextmanager
def patched(**funcs: Callable[..., Any]) -> Iterator[None]:
    """Swap sampling functions (in both modules that call them) for the duration."""
    mp = pytest.MonkeyPatch()
    for name, f in funcs.items():
        mp.setattr(sampling_mod, name, f)
        if hasattr(rounds_mod, name):
            mp.setattr(rounds_mod, name, f)
    try:
        yield
    finally:
        mp.undo()


OLD: dict[str, Callable[..., Any]] = {
    "top_pool": old_top_pool,
    "training_mask": old_training_mask,
    "split_references": old_split_references,
    "group_runs": old_group_runs,
}


@dataclass
class Ctx:
    unit_id: str
    values: np.ndarray
    groups: np.ndarray


def random_units(seed: int) -> Iterator[Ctx]:
    """Units of a random model: dense, ReLU-like (mostly exact zeros: many ties), coarsely rounded (ties
    everywhere), fewer examples than the top pool; windows of equal size and shuffled, uneven image groups."""
    rng = np.random.default_rng(seed)
    for k, n_windows in enumerate((3, 40, 300)):
        positions = int(rng.integers(1, 17))
        equal = np.repeat(np.arange(n_windows), positions)
        uneven = np.sort(rng.integers(0, n_windows, equal.size))
        uneven[:n_windows] = np.arange(n_windows)  # every group present
        shuffled = rng.permutation(equal) * 7 + 3
        for groups in (equal, rng.permutation(uneven), shuffled):
            x = rng.standard_normal(groups.size)
            for name, v in (("dense", x), ("relu", np.maximum(x - 1.0, 0.0)), ("rounded", np.round(x))):
                yield Ctx(f"m/s/neuron/{k}-{name}-{groups[0]}", v, groups)


def draws_equal(a: Draws, b: Draws) -> bool:
    return (
        a.draws == b.draws
        and np.array_equal(a.training, b.training)
        and a.references.top == b.references.top
        and a.references.random == b.references.random
        and np.array_equal(a.references.held_out_mask, b.references.held_out_mask)
        and a.stats == b.stats
    )


def fast_equals_old(ctx: Ctx, n: int, plan: SamplingPlan, exclude: np.ndarray | None, **fast: Any) -> bool:
    """The fast path (optionally with some functions replaced by ``fast``) against the old per-unit one."""
    with patched(**OLD):
        old = draw_examples(ctx, n, plan, exclude=exclude)  # type: ignore[arg-type]
    with patched(**fast):
        new = draw_examples(ctx, n, plan, exclude=exclude)  # type: ignore[arg-type]
        training = training_mask(ctx.groups, plan.training_fraction)
        shared = draw_examples(ctx, n, plan, exclude=exclude, training=training)  # type: ignore[arg-type]
    return draws_equal(old, new) and draws_equal(old, shared)


def _cases() -> Iterator[tuple[Ctx, int, SamplingPlan, np.ndarray | None]]:
    rng = np.random.default_rng(1)
    for ctx in random_units(0):
        plan = SamplingPlan(seed=int(rng.integers(100)), top_pool=int(rng.choice([1, 5, 50, 10_000])))
        exclude = rng.random(ctx.groups.size) < 0.02 if ctx.groups.size > 200 else None
        asked = ~old_training_mask(ctx.groups) & ~np.isin(
            ctx.groups, ctx.groups[exclude if exclude is not None else []]
        )
        n = min(40, np.unique(ctx.groups[asked]).size)  # as many as can be asked, up to 40
        yield ctx, n, plan, exclude


def test_the_fast_draw_asks_exactly_what_the_old_sorts_asked() -> None:
    checked = 0
    for ctx, n, plan, exclude in _cases():
        assert fast_equals_old(ctx, n, plan, exclude), ctx.unit_id
        checked += 1
    assert checked == 27


def test_the_fast_pieces_equal_the_old_ones_on_ties() -> None:
    rng = np.random.default_rng(2)
    for v in (np.zeros(100), np.round(rng.standard_normal(5000)), -np.zeros(7), np.array([1.0, -0.0, 0.0, 1.0])):
        for k in (1, 2, 3, 50, v.size - 1, v.size, v.size + 5):
            assert np.array_equal(sampling_mod.top_pool(v, k), old_top_pool(v, k)), (v[:5], k)
    g = rng.permutation(np.repeat(np.arange(50), 3)) * 11
    assert all(np.array_equal(a, b) for a, b in zip(sampling_mod.group_runs(g), old_group_runs(g), strict=True))
    assert np.array_equal(training_mask(g, 0.3), old_training_mask(g, 0.3))


def _ties_reversed(values: np.ndarray, k: int) -> np.ndarray:
    """A planted fault: the right top-k set, but ties broken by the higher index."""
    n = values.size
    return (n - 1 - np.argsort(-values[::-1], kind="stable"))[:k]


def _rest_keeps_top(values: Any, plan: SamplingPlan, rng: np.random.Generator, training: Any = None) -> References:
    """A planted fault: the random references may repeat a top reference (``rest`` not reduced)."""
    v = finite_array("values", values)
    candidates = np.arange(v.size) if training is None else np.flatnonzero(np.asarray(training, dtype=bool))
    pool = candidates[sampling_mod.top_pool(v[candidates], plan.top_pool)]
    top = rng.choice(pool, min(plan.n_reference_top, pool.size // 2), replace=False)
    top = top[np.argsort(-v[top], kind="stable")]
    rand = rng.choice(candidates, min(plan.n_reference_random, candidates.size // 2), replace=False)
    mask = np.ones(v.size, dtype=bool)
    mask[top] = False
    mask[rand] = False
    return References(tuple(int(i) for i in top), tuple(int(i) for i in rand), mask)


FAST_GROUP_RUNS = sampling_mod.group_runs


def _groups_cut(g: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A planted fault: a drawn example uses up its group but its group's last example."""
    order, first, last = FAST_GROUP_RUNS(g)
    return order, first, np.maximum(first + 1, last - 1)


def _training_flipped(groups: Any, fraction: float = SamplingPlan.training_fraction) -> np.ndarray:
    """A planted fault: the asked and the training halves swapped."""
    return ~old_training_mask(groups, fraction)


@pytest.mark.parametrize(
    "fault",
    [
        {"top_pool": _ties_reversed},
        {"split_references": _rest_keeps_top},
        {"group_runs": _groups_cut},
        {"training_mask": _training_flipped},
    ],
    ids=["top-ties", "refs-rest", "group-runs", "training-mask"],
)
def test_a_planted_fault_in_the_fast_path_is_caught(fault: dict[str, Callable[..., Any]]) -> None:
    assert not all(fast_equals_old(ctx, n, plan, exclude, **fault) for ctx, n, plan, exclude in _cases())
