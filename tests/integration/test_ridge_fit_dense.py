"""The ridge refit's shortcut for a design matrix with no all-zero column (the common case in play) returns the
same fit, bit for bit, as the fit rebuilt from the named rows (``test_finder_speed._old_fit``)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from test_finder_speed import _old_fit

from mirrorneuron.players import ridge

Fit = Callable[[np.ndarray, dict[str, int], list[float], float], ridge.RidgeFit]


def _unscaled(x: np.ndarray, columns: dict[str, int], targets: list[float], alpha: float) -> ridge.RidgeFit:
    """Planted fault: the shortcut forgets to scale the columns to unit RMS."""
    rms = np.sqrt(np.add.reduce(x * x, axis=0) / x.shape[0])
    return ridge.RidgeFit(dict(columns), rms, ridge.ridge_solve(x, np.asarray(targets, dtype=np.float64), alpha))


def _same_dense_fits(fit_matrix: Fit, seed: int) -> bool:
    rng = np.random.default_rng(seed)
    names = [f"f{i}" for i in range(rng.integers(1, 25))]
    rows = [{n: float(rng.normal()) for n in names}]  # every column non-zero from the first row on
    ok = True
    for _ in range(45):
        rows.append({n: float(rng.normal() * 10.0 ** rng.integers(-3, 4)) for n in names})
        memory = ridge._Memory(rows, [float(rng.normal()) for _ in rows])
        x = memory.buffer[: len(rows), : len(memory.columns)].copy()
        assert (np.abs(x).sum(axis=0) > 0).all()  # the shortcut's case
        new, old = fit_matrix(x, memory.columns, memory.targets, 0.1), _old_fit(memory.rows, memory.targets, 0.1)
        ok &= new.columns == old.columns and np.array_equal(new.scale, old.scale)
        ok &= np.array_equal(new.weights, old.weights)
    return bool(ok)


def test_the_dense_shortcut_equals_the_rebuilt_fit_bit_for_bit() -> None:
    assert all(_same_dense_fits(ridge._fit_matrix, seed) for seed in range(6))
    assert not _same_dense_fits(_unscaled, 0)
