"""The vectorised activation-matrix finders equal their per-unit definitions (within 1e-9 relative, NaN exactly
where the definition is NaN) on randomized sites: float16 / float32 / float64 values, constant and heavy-tailed
units, ties, a token seen once in training and one never seen, odd and even numbers of examples, blocks of one
unit, several units and all of them; and the comparison catches planted faults in the fast paths."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

from mirrorneuron.finders import SiteData, activation, get, structure
from mirrorneuron.game import scoring
from mirrorneuron.game.scoring import CONSTANT_ACTUAL, r2_rows, summarize
from mirrorneuron.units import poly

FAST = ("density", "kurtosis", "poly_density", "max_z", "unigram_r2")
ALL = (*FAST, "top_examples")


def ref_kurtosis(v: np.ndarray) -> float:  # units.poly.kurtosis as it was, one unit at a time
    sd = v.std()
    return 0.0 if sd == 0 or not np.isfinite(sd) else float((((v - v.mean()) / sd) ** 4).mean() - 3.0)


def ref_poly_density(v: np.ndarray) -> float:  # units.poly.density as it was
    med, top = float(np.median(v)), float(v.max())
    return 0.0 if top <= med else float((v > med + 0.1 * (top - med)).mean())


def ref_max_z(v: np.ndarray) -> float:
    return float((v.max() - v.mean()) / v.std()) if v.std() > 0 else np.nan


def ref_unigram_r2(data: SiteData, v: np.ndarray) -> float:
    """R² (game.scoring.summarize) on the held-out examples of the training half's per-token means."""
    assert data.tokens is not None
    train, tokens = data.training, np.asarray(data.tokens)
    seen: dict[int, list[float]] = {}
    for t, x in zip(tokens[train].tolist(), v[train].tolist(), strict=True):
        seen.setdefault(t, []).append(x)
    pred = [float(np.mean(seen[t])) if t in seen else float(v[train].mean()) for t in tokens[~train].tolist()]
    s = summarize(v[~train], pred)
    return np.nan if CONSTANT_ACTUAL in s.flags else s.r2


def reference(data: SiteData) -> dict[str, np.ndarray]:
    cols = [np.asarray(data.acts[:, j], dtype=np.float64) for j in range(data.n_units)]
    return {
        "density": np.array([(v > 0).mean() for v in cols]),
        "kurtosis": np.array([ref_kurtosis(v) for v in cols]),
        "poly_density": np.array([ref_poly_density(v) for v in cols]),
        "max_z": np.array([ref_max_z(v) for v in cols]),
        "unigram_r2": np.array([ref_unigram_r2(data, v) for v in cols]),
        "top_examples": np.array([poly.top_examples(v) for v in cols]),
    }


def close(got: np.ndarray, want: np.ndarray) -> bool:
    """Equal within 1e-9 relative (1e-12 absolute, for scores near 0), NaN exactly where ``want`` is NaN."""
    nan = np.isnan(want)
    if not np.array_equal(np.isnan(got), nan):
        return False
    return bool(np.all(np.abs(got[~nan] - want[~nan]) <= 1e-9 * np.abs(want[~nan]) + 1e-12))


def mismatches(data: SiteData) -> set[str]:
    """The finders (and top_examples) whose fast scores differ from the per-unit definitions."""
    want = reference(data)
    got = {name: get(name)(data) for name in FAST}
    bad = {name for name in FAST if not close(got[name], want[name])}
    if not np.array_equal(structure.top_examples(data), want["top_examples"]):
        bad.add("top_examples")
    return bad


def site(dtype: Any, windows: int, positions: int, seed: int) -> SiteData:
    rng = np.random.default_rng(seed)
    e = windows * positions
    groups = np.repeat(np.arange(windows), positions)
    tokens = rng.zipf(1.6, e) % 50
    probe = SiteData("m", "s", np.zeros((e, 1)), groups)
    train = probe.training
    held_idx, train_idx = np.flatnonzero(~train), np.flatnonzero(train)
    tokens[held_idx[:3]] = 998  # a token the training half never has
    tokens[train_idx[5]] = tokens[held_idx[7]] = 999  # a token seen once in training
    lookup = rng.normal(0, 1, 1000)[tokens]
    held_const = np.where(train, rng.normal(0, 1, e), 0.25)
    units = [
        np.zeros(e),  # dead
        np.full(e, 0.1),  # constant, not exact in binary
        rng.normal(0, 1, e),
        10 * rng.standard_t(1.5, e),  # heavy tails
        np.where(rng.random(e) < 0.02, rng.exponential(3, e), 0.0),  # sparse, ReLU-like
        lookup + 0.01 * rng.normal(0, 1, e),  # a token lookup
        rng.integers(0, 4, e).astype(np.float64),  # ties everywhere
        1000 + 0.05 * rng.normal(0, 1, e),  # a large offset: centring matters
        -rng.lognormal(0, 2, e),
        held_const,  # constant on the held-out half only: unigram R² NaN, the rest finite
        np.where(np.arange(e) == held_idx[10], 5.0, 0.0),  # one spike (held out)
        rng.random(e),
        np.where(rng.random(e) < 0.5, -2.0, 3.0) + 0.1 * rng.normal(0, 1, e),  # bimodal
    ]
    acts = np.stack(units, axis=1).astype(dtype)
    return SiteData("m", "s", acts, groups, tokens=tokens, positions=positions)


SITES = [(np.float16, 37, 27, 0), (np.float32, 40, 25, 1), (np.float64, 37, 27, 2), (np.float16, 10, 101, 3)]


@pytest.fixture(params=[None, 1, 5], ids=["one-block", "unit-blocks", "5-unit-blocks"])
def blocks(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Blocks of rows as the default (every unit at once here), one unit, or five (a short last block)."""
    if request.param is not None:
        monkeypatch.setattr(poly, "BLOCK", request.param * 37 * 27)


@pytest.mark.parametrize(("dtype", "windows", "positions", "seed"), SITES)
@pytest.mark.usefixtures("blocks")
def test_fast_finders_equal_the_per_unit_definitions(dtype: Any, windows: int, positions: int, seed: int) -> None:
    data = site(dtype, windows, positions, seed)
    assert mismatches(data) == set()
    rows = data.rows
    assert rows.dtype == data.acts.dtype and rows.flags.c_contiguous and np.array_equal(rows, data.acts.T)
    nan = {name: np.flatnonzero(np.isnan(get(name)(data))).tolist() for name in FAST}
    flat = [0, 1, 7] if dtype is np.float16 else [0, 1]  # (1000 + 0.05·noise is 1000 in float16)
    assert nan == {"density": [], "kurtosis": [], "poly_density": [], "max_z": flat, "unigram_r2": sorted([*flat, 9])}


def test_the_one_unit_functions_are_the_same_code_and_the_definition() -> None:
    rng = np.random.default_rng(5)
    for v in (rng.normal(0, 1, 1001), rng.standard_t(1.5, 1000), np.full(7, 0.1), np.array([2.0]), np.arange(4.0)):
        assert poly.kurtosis(v) == pytest.approx(ref_kurtosis(v), rel=1e-9, abs=1e-12)
        assert poly.density(v) == ref_poly_density(v)
        assert (
            poly.kurtosis(v) == poly.moments(v[None]).kurtosis[0] and poly.density(v) == poly.density_rows(v[None])[0]
        )
    with pytest.raises(ValueError, match="at least one value"):
        poly.density(np.array([]))


# --- planted faults: each must make the comparison above fail -------------------------------------------------


def uncentred_kurtosis(values: np.ndarray) -> poly.Moments:
    m = poly.moments(values)
    raw4 = (np.asarray(values, dtype=np.float64) ** 4).mean(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        k = np.where(m.std > 0, raw4 / m.std**4 - 3.0, 0.0)
    return poly.Moments(m.mean, m.std, m.max, m.positive, k)


def last_block_dropped(real: Callable[..., Iterator[tuple[slice, np.ndarray]]]) -> Callable[..., Any]:
    def blocks(rows: np.ndarray, *args: Any) -> Iterator[tuple[slice, np.ndarray]]:
        got = [(sl, b.copy()) for sl, b in real(rows, *args)]
        return iter(got[:-1])

    return blocks


def uncentred_r2(actual: Any, predicted: Any) -> tuple[np.ndarray, np.ndarray]:
    constant = r2_rows(actual, predicted)[1]
    a, p = np.asarray(actual, dtype=np.float64), np.asarray(predicted, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(constant, 0.0, 1.0 - ((a - p) ** 2).mean(axis=1) / (a**2).mean(axis=1)), constant


def test_planted_faults_in_the_fast_paths_are_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    data = lambda: site(np.float16, 37, 27, 0)  # noqa: E731 (fresh memo per fault)
    assert mismatches(data()) == set()
    with monkeypatch.context() as m:
        m.setattr(activation, "moments", uncentred_kurtosis)
        assert mismatches(data()) == {"kurtosis"}
    with monkeypatch.context() as m:
        m.setattr(poly, "BLOCK", 5 * 37 * 27)
        for module in (poly, activation, structure):
            m.setattr(module, "row_blocks", last_block_dropped(poly.row_blocks))
        assert mismatches(data()) == set(ALL)
    with monkeypatch.context() as m:
        m.setattr(activation, "r2_rows", uncentred_r2)
        assert mismatches(data()) == {"unigram_r2"}


# --- game.scoring.r2_rows against summarize ---------------------------------------------------------------------


def r2_disagreements(a: np.ndarray, p: np.ndarray) -> list[int]:
    r2, constant = r2_rows(a, p)
    bad = []
    for i in range(a.shape[0]):
        s = summarize(a[i], p[i])
        if constant[i] != (CONSTANT_ACTUAL in s.flags) or not close(np.array([r2[i]]), np.array([s.r2])):
            bad.append(i)
    return bad


def r2_cases() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(9)
    n = 301
    a = rng.normal(0, 1, (12, n))
    p = a + rng.normal(0, 0.5, (12, n))
    a[1] = 0.1  # constant
    a[2] = 5.0 + 1e-12 * rng.random(n)  # constant within summarize's tolerance
    a[3] = 5.0 + 1e-9 * rng.random(n)  # not constant
    p[4] = 0.3  # a constant prediction
    a[5] = rng.standard_t(1.5, n) * 100
    a[6] = np.asarray(rng.normal(0, 1, n), dtype=np.float16)
    p[7] = a[7]  # perfect
    a[8] = 1e6 + rng.normal(0, 1, n)  # a large offset
    return a, p


def test_r2_rows_equals_summarize_row_by_row() -> None:
    a, p = r2_cases()
    assert r2_disagreements(a, p) == []
    r2, constant = r2_rows(a, p)
    assert constant.tolist() == [i in (1, 2) for i in range(12)] and r2[1] == r2[2] == 0.0 and r2[7] == 1.0
    assert [x.tolist() for x in r2_rows(np.zeros((2, 0)), np.zeros((2, 0)))] == [[0.0, 0.0], [False, False]]
    a[0, 3] = np.nan
    with pytest.raises(ValueError, match="actual contains NaN or inf"):
        r2_rows(a, p)
    with pytest.raises(ValueError, match="predicted contains NaN or inf"):
        r2_rows(p, a)
    with pytest.raises(ValueError, match="one shape"):
        r2_rows(np.zeros((2, 3)), np.zeros((2, 4)))


def test_a_changed_constant_rule_in_summarize_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """r2_rows and summarize share the constant test (scoring._constant_span): if summarize alone changes it,
    the comparison fails."""
    monkeypatch.setattr(scoring, "_is_constant", lambda x: bool(np.ptp(x) <= 1e-9 * max(1.0, float(np.abs(x).max()))))
    assert r2_disagreements(*r2_cases()) == [3]
