"""The draw's round-5 shortcuts (quantiles from one sort, bins of the held-out examples only, cell membership by
pattern instead of a [cells, N] mask, the strategy pick without rng.choice's checks) return exactly what the
code of 882ce47 returned: its draw, _cells, quantile_bins, split_references, UnitStats.from_values and
draw_examples are kept here verbatim (renamed ``ref_*``) as the reference, compared bit for bit on many seeded
inputs, and planted faults in the shortcuts are caught."""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import pytest

from mirrorneuron.game import SamplingPlan, UnitContext, UnitStats
from mirrorneuron.game import levels as levels_mod
from mirrorneuron.game import rounds as rounds_mod
from mirrorneuron.game import sampling as sampling_mod
from mirrorneuron.game.levels import QUANTILES
from mirrorneuron.game.rounds import Draws, _rng
from mirrorneuron.game.sampling import (
    Cell,
    Draw,
    GroupRuns,
    References,
    _mixture,
    _nth_not_drawn,
    _prepare,
    group_runs,
    top_pool,
    training_mask,
)
from mirrorneuron.game.scoring import finite_array, unit_scale

# --- the reference: 882ce47's code, verbatim but for the ref_ names ------------------------------------------


def ref_quantile_bins(values: np.ndarray, n_bins: int) -> list[np.ndarray]:
    edges = np.quantile(np.sort(values), np.linspace(0.0, 1.0, n_bins + 1))
    bin_of = np.zeros(np.shape(values), dtype=np.min_scalar_type(n_bins))
    for edge in edges[1:-1]:
        bin_of += values >= edge
    order = np.argsort(bin_of, kind="stable")
    return np.split(order, np.cumsum(np.bincount(bin_of, minlength=n_bins))[:-1])


def ref_split_references(values: Any, plan: SamplingPlan, rng: np.random.Generator, training: Any = None) -> References:
    v = finite_array("values", values)
    if v.size == 0:
        raise ValueError("values is empty: no examples to sample from")
    candidates = np.arange(v.size) if training is None else np.flatnonzero(np.asarray(training, dtype=bool))
    pool = candidates[top_pool(v[candidates], plan.top_pool)]
    top = rng.choice(pool, min(plan.n_reference_top, pool.size // 2), replace=False)
    top = top[np.argsort(-v[top], kind="stable")]
    taken = np.zeros(v.size, dtype=bool)
    taken[top] = True
    rest = candidates[~taken[candidates]]
    rand = rng.choice(rest, min(plan.n_reference_random, rest.size // 2), replace=False)
    mask = np.ones(v.size, dtype=bool)
    mask[top] = False
    mask[rand] = False
    mask.setflags(write=False)
    return References(tuple(int(i) for i in top), tuple(int(i) for i in rand), mask)


def ref_cells(v: np.ndarray, plan: SamplingPlan, eligible: np.ndarray) -> list[Cell]:
    pool = top_pool(v, plan.top_pool)
    bins = [b[eligible[b]] for b in ref_quantile_bins(v, plan.n_bins)]
    strategies: list[tuple[Any, float, list[np.ndarray]]] = [
        ("top", plan.top, [pool[eligible[pool]]]),
        ("bin", plan.bins, [b for b in bins if b.size]),
        ("random", plan.random, [np.flatnonzero(eligible)]),
    ]
    kept = [(s, p, [g for g in gs if g.size]) for s, p, gs in strategies if p > 0]
    kept = [(s, p, gs) for s, p, gs in kept if gs]
    total = sum(p for _, p, _ in kept)
    return [(s, p / total / len(gs), g) for s, p, gs in kept for g in gs]


def ref_draw(
    values: Any,
    plan: SamplingPlan,
    n: int,
    rng: np.random.Generator,
    exclude_mask: Any = None,
    groups: Any = None,
    runs: GroupRuns | None = None,
) -> list[Draw]:
    v, eligible = _prepare(values, exclude_mask)
    g = np.arange(v.size) if groups is None else np.asarray(groups, dtype=np.int64).reshape(-1)
    if g.shape != v.shape:
        raise ValueError(f"groups has shape {g.shape}, values has {v.shape}")
    cells = ref_cells(v, plan, eligible)
    natural = 1.0 / int(eligible.sum())
    share = [p / c.size for _, p, c in cells]
    probs = np.array([p for _, p, _ in cells])
    member = np.zeros((len(cells), v.size), dtype=bool)
    for k, (_, _, c) in enumerate(cells):
        member[k, c] = True
    free = np.array([c.size for _, _, c in cells])
    drawn = np.zeros(v.size, dtype=bool)
    taken: list[np.ndarray] = []
    order, first, last = group_runs(g) if runs is None else runs
    out: list[Draw] = []
    while len(out) < n and free.any():
        p = np.where(free > 0, probs, 0.0)
        k = int(rng.choice(len(cells), p=p / p.sum()))
        source, _, cell = cells[k]
        r = int(rng.integers(int(free[k])))
        if source == "random":
            i = _nth_not_drawn(cell, member[k], np.sort(np.concatenate(taken)) if taken else None, r)
        else:
            i = int(cell[~drawn[cell]][r])
        used = order[first[i] : last[i]]
        used = used[~drawn[used]]
        drawn[used] = True
        taken.append(used)
        free = free - member[:, used].sum(axis=1)
        q = 0.0
        for j in np.flatnonzero(member[:, i]).tolist():
            q += share[j]
        out.append(Draw(i, source, natural / q))
    return out


def ref_from_values(values: Any) -> UnitStats:
    v = finite_array("values", values)
    if v.size == 0:
        raise ValueError("values is empty: a unit needs at least one activation")
    qs = np.quantile(v, [q for _, q in QUANTILES])
    named = tuple((name, float(x)) for (name, _), x in zip(QUANTILES, qs, strict=True))
    return UnitStats(float(v.min()), float(v.max()), float(v.mean()), named, unit_scale(v))


def ref_draw_examples(
    ctx: UnitContext,
    n: int,
    plan: SamplingPlan | None = None,
    seed: int | None = None,
    exclude: Any = None,
    training: np.ndarray | None = None,
    runs: GroupRuns | None = None,
) -> Draws:
    if n < 0:
        raise ValueError(f"number of rounds must be >= 0, got {n}")
    plan = plan or SamplingPlan()
    seed = plan.seed if seed is None else seed
    rng = _rng(seed, ctx.unit_id)
    groups = np.asarray(ctx.groups, dtype=np.int64)
    if training is None:
        training = training_mask(groups, plan.training_fraction)
    elif training.shape != groups.shape:
        raise ValueError(f"training has shape {training.shape}, there are {groups.size} examples")
    stats = ref_from_values(np.asarray(ctx.values)[training])
    refs = ref_split_references(ctx.values, plan, rng, training)
    seen = np.zeros(len(groups), dtype=bool) if exclude is None else np.asarray(exclude, dtype=bool)
    if seen.shape != groups.shape:
        raise ValueError(f"exclude has shape {seen.shape}, there are {groups.size} examples")
    if seen.any():
        seen_groups = np.isin(groups, groups[seen])
        n_skippable = int(np.unique(groups[seen_groups & ~training]).size)
    else:
        seen_groups, n_skippable = seen, 0
    candidates = ref_draw(ctx.values, plan, n + n_skippable, rng, training, groups, runs) if n else []
    chosen = tuple(d for d in candidates if not seen_groups[d.index])[:n]
    if len(chosen) < n:
        raise ValueError(
            f"only {len(chosen)} examples of {ctx.unit_id} are left that this player has not seen; "
            f"ask for fewer rounds or harvest more windows"
        )
    return Draws(chosen, training, refs, stats)


# --- inputs ------------------------------------------------------------------------------------------------


@dataclass
class _Ctx:
    """A unit with its values as given (the finder's are float32, not float64 like ArrayContext's)."""

    unit_id: str
    values: np.ndarray
    groups: np.ndarray


PLANS = (
    SamplingPlan(),
    SamplingPlan(top=0.0, bins=0.0, random=1.0),
    SamplingPlan(top=1.0, bins=0.0, random=0.0, top_pool=7),
    SamplingPlan(top=0.0, bins=1.0, random=0.0, n_bins=1),
    SamplingPlan(top=0.5, bins=0.5, random=0.0, n_bins=37, top_pool=1),
    SamplingPlan(top_pool=3, n_bins=4, n_reference_top=0, n_reference_random=1),
    SamplingPlan(top=0.1, bins=0.3, random=0.6, n_bins=300, top_pool=200, training_fraction=0.3),
)


def _values(rng: np.random.Generator, n: int) -> Iterator[np.ndarray]:
    """Dense, float32- and float16-rounded, ReLU-like (exact zeros of both signs), rounded (ties), constant."""
    x = rng.standard_normal(n) * 3
    yield x
    yield x.astype(np.float32)
    yield x.astype(np.float16).astype(np.float64)
    yield np.where(rng.random(n) < 0.5, -0.0, np.maximum(x - 0.5, 0.0))
    yield np.where(rng.random(n) < 0.3, np.where(rng.random(n) < 0.5, -0.0, 0.0), np.round(x))
    yield np.full(n, -0.0 if rng.random() < 0.5 else 1.25)


def cases(n_cases: int = 7) -> Iterator[tuple[np.ndarray, np.ndarray | None, np.ndarray | None, SamplingPlan, int]]:
    """(values, groups or None, exclude mask or None, plan, seed) for small to mid-sized units."""
    rng = np.random.default_rng(11)
    for size in (1, 2, 3, 7, 40, 500, 3000, 20_000)[: n_cases + 1]:
        n_groups = max(1, size // int(rng.integers(1, 9)))
        uneven = np.sort(rng.integers(0, n_groups, size))
        for k, v in enumerate(_values(rng, size)):
            groups = (None, rng.permutation(uneven) * 3 + 1, np.arange(size) // max(1, size // n_groups))[k % 3]
            g = np.arange(size) if groups is None else groups
            whole = np.isin(g, rng.permutation(np.unique(g))[: np.unique(g).size // 2])
            single = rng.random(size) < 0.2
            for exclude in (None, whole if whole.sum() < size else None, single if single.sum() < size else None):
                yield v, groups, exclude, PLANS[int(rng.integers(len(PLANS)))], int(rng.integers(10**6))


def _bits(x: float) -> bytes:
    return struct.pack("<d", x)  # -0.0 and 0.0 differ here


def stats_bits(s: UnitStats) -> tuple[bytes, ...]:
    return tuple(_bits(x) for x in (s.min, s.max, s.mean, s.scale, *(q for _, q in s.quantiles)))


def same_refs(a: References, b: References) -> bool:
    return a.top == b.top and a.random == b.random and np.array_equal(a.held_out_mask, b.held_out_mask)


# --- comparisons -------------------------------------------------------------------------------------------


def draws_agree() -> bool:
    """The new draw (its own bins, and the held-out indices precomputed) and mixture equal the reference's."""
    for v, groups, exclude, plan, seed in cases():
        ref = ref_draw(v, plan, 40, np.random.default_rng(seed), exclude, groups)
        new = sampling_mod.draw(v, plan, 40, np.random.default_rng(seed), exclude, groups)
        g = np.arange(v.size) if groups is None else groups
        eligible = np.ones(v.size, dtype=bool) if exclude is None else ~exclude
        given = sampling_mod.draw(
            v, plan, 40, np.random.default_rng(seed), exclude, groups, group_runs(g), held_out=np.flatnonzero(eligible)
        )
        old_q = _mixture(v.size, ref_cells(finite_array("v", v), plan, eligible))
        if (
            new != ref
            or given != ref
            or sampling_mod.mixture_probability(v, plan, exclude).tobytes() != old_q.tobytes()
        ):
            return False
    return True


def stats_agree() -> bool:
    return all(stats_bits(levels_mod.UnitStats.from_values(v)) == stats_bits(ref_from_values(v)) for v, *_ in cases())


def draw_examples_agree(n_cases: int = 6) -> bool:
    """draw_examples (with and without the site's precomputed arrays) equals the reference: draws, training,
    references and UnitStats bit for bit, and the same ValueError where the reference raises one."""
    for v, groups, exclude, plan, seed in cases(n_cases):
        g = np.arange(v.size) if groups is None else groups
        if np.unique(g).size < 2:
            continue
        ctx = cast(UnitContext, _Ctx(f"u{seed}", v, g))
        training = training_mask(g, plan.training_fraction)
        n = int(seed % 30)
        results = []
        for f, kw in (
            (ref_draw_examples, {}),
            (rounds_mod.draw_examples, {}),
            (
                rounds_mod.draw_examples,
                {"training": training, "runs": group_runs(g), "held_out": np.flatnonzero(~training)},
            ),
        ):
            try:
                results.append(f(ctx, n, plan, seed, exclude, **kw))  # type: ignore[operator]
            except ValueError as e:
                results.append(str(e))
        ref = results[0]
        for new in results[1:]:
            if isinstance(ref, str) or isinstance(new, str):
                if new != ref:
                    return False
            elif not (
                new.draws == ref.draws
                and np.array_equal(new.training, ref.training)
                and same_refs(new.references, ref.references)
                and stats_bits(new.stats) == stats_bits(ref.stats)
            ):
                return False
    return True


def test_the_draw_and_mixture_equal_the_reference_bit_for_bit() -> None:
    assert draws_agree()


def test_unit_stats_equal_the_reference_bit_for_bit() -> None:
    assert stats_agree()


def test_draw_examples_equals_the_reference_bit_for_bit() -> None:
    assert draw_examples_agree()


def test_quantile_bins_equal_the_reference_with_or_without_among() -> None:
    rng = np.random.default_rng(12)
    for size in (1, 2, 9, 1000):
        for v in _values(rng, size):
            v = finite_array("v", v)
            among = np.flatnonzero(rng.random(size) < 0.5)
            for n_bins in (1, 3, 10, 301):
                ref = ref_quantile_bins(v, n_bins)
                new = sampling_mod.quantile_bins(v, n_bins)
                some = sampling_mod.quantile_bins(v, n_bins, among=among)
                assert len(new) == len(some) == len(ref) == n_bins
                assert all(np.array_equal(a, b) for a, b in zip(new, ref, strict=True))
                keep = np.zeros(size, dtype=bool)
                keep[among] = True
                assert all(np.array_equal(a, b[keep[b]]) for a, b in zip(some, ref, strict=True))


def test_sorted_quantiles_equal_np_quantile_bit_for_bit() -> None:
    """numpy's numbers, bit for bit, but a zero's sign where the values hold zeros of both signs."""
    rng = np.random.default_rng(13)
    qs = np.concatenate(([0.0, 1.0, 0.5, 0.01, 0.99], rng.random(20)))
    n_mixed = 0
    for size in (1, 2, 3, 5, 64, 1001):
        for v in _values(rng, size):
            v = finite_array("v", v)
            ref = np.quantile(v, qs)
            for ascending in (np.sort(v), sampling_mod.sort_values(v)):  # float64, and float32 where exact
                got = sampling_mod.sorted_quantiles(ascending, qs)
                if levels_mod._mixed_zero_signs(v):
                    n_mixed += 1
                    assert np.array_equal(got, ref)
                else:
                    assert got.tobytes() == ref.tobytes()
    assert n_mixed  # the ±0 case was exercised


def test_values_are_sorted_as_float32_only_where_that_is_exact() -> None:
    x = np.random.default_rng(3).standard_normal(1000)
    assert sampling_mod.narrowed(x.astype(np.float32).astype(np.float64)).dtype == np.float32
    assert sampling_mod.narrowed(x.astype(np.float16).astype(np.float64)).dtype == np.float32
    assert sampling_mod.narrowed(x) is x  # float64 detail a float32 would lose
    assert sampling_mod.narrowed(np.array([1e300, 0.0])).dtype == np.float64  # out of float32's range


def test_a_wrong_held_out_count_is_refused() -> None:
    v = np.arange(10.0)
    with pytest.raises(ValueError, match="held_out"):
        sampling_mod.draw(v, SamplingPlan(), 3, np.random.default_rng(0), v < 5, held_out=np.arange(4))


# --- planted faults ----------------------------------------------------------------------------------------


def _caught(check: Callable[[], bool], module: Any, name: str, fault: Any) -> bool:
    mp = pytest.MonkeyPatch()
    try:
        mp.setattr(module, name, fault)
        return not check()
    finally:
        mp.undo()


def _edge_off_by_one(ascending: np.ndarray, qs: Any) -> np.ndarray:
    """Planted fault: each quantile read as the order statistic one place above its floor (clipped)."""
    n = ascending.size
    rank = np.floor((n - 1) * np.asarray(qs, dtype=np.float64)).astype(np.intp)
    return np.asarray(ascending[np.minimum(rank + 1, n - 1)], dtype=np.float64)


def _sorted_finite(name: str, x: Any) -> np.ndarray:
    """Planted fault: UnitStats sees its values sorted, so its mean sums them in sorted order."""
    return np.sort(finite_array(name, x))


def _lossy_narrowed(v: np.ndarray) -> np.ndarray:
    """Planted fault: values sorted as float32 even where that rounds them."""
    return v.astype(np.float32)


def _no_zero_guard(v: np.ndarray) -> bool:
    """Planted fault: the ±0 fallback left out (a zero quantile's sign from the sort, not numpy's partition)."""
    return False


class _TopBlind(sampling_mod._Membership):
    """Planted fault: a drawn example's weight leaves out the top cell's share of its mixture probability."""

    def cells_of(self, i: int) -> list[int]:
        top = int(np.flatnonzero(self.table[2])[0]) if self.table[2].any() else -1  # pattern 2: top cell only
        return [k for k in super().cells_of(i) if k != top]


def test_planted_faults_are_caught() -> None:
    assert _caught(stats_agree, levels_mod, "finite_array", _sorted_finite)  # mean over the sorted values
    assert _caught(stats_agree, levels_mod, "sorted_quantiles", _edge_off_by_one)
    assert _caught(stats_agree, levels_mod, "_mixed_zero_signs", _no_zero_guard)
    assert _caught(draws_agree, sampling_mod, "sorted_quantiles", _edge_off_by_one)  # a bin edge off by one
    assert _caught(draws_agree, sampling_mod, "_Membership", _TopBlind)
    assert _caught(draws_agree, sampling_mod, "narrowed", _lossy_narrowed)  # bin edges, top pool from rounded values
    assert _caught(stats_agree, sampling_mod, "narrowed", _lossy_narrowed)  # quantiles of rounded values
    assert _caught(lambda: draw_examples_agree(4), levels_mod, "sorted_quantiles", _edge_off_by_one)
