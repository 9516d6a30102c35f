"""Finders read off the activation matrix alone: density, kurtosis, the polysemanticity density, max-activation z-score, token-unigram R²
and a random baseline. Each works on the whole [examples, units] matrix at once."""

from __future__ import annotations

import zlib

import numpy as np

from mirrorneuron.finders.base import Finder, SiteData
from mirrorneuron.game.scoring import CONSTANT_ACTUAL, summarize
from mirrorneuron.units.poly import density, kurtosis


def columns(data: SiteData) -> np.ndarray:
    """The activations as contiguous float32 rows per unit, [U, E] (made once per site)."""
    if "columns" not in data.memo:
        data.memo["columns"] = np.ascontiguousarray(np.asarray(data.acts, dtype=np.float32).T)
    return np.asarray(data.memo["columns"])


class ActivationDensity(Finder):
    name = "density"
    describe = "fraction of examples on which the unit is active (value > 0); dense units fire everywhere"

    def score(self, data: SiteData) -> np.ndarray:
        return np.asarray((columns(data) > 0).mean(axis=1))


class Kurtosis(Finder):
    name = "kurtosis"
    describe = "excess kurtosis of the unit's values (units.poly); sparse, peaky units score high"

    def score(self, data: SiteData) -> np.ndarray:
        return np.array([kurtosis(col) for col in columns(data)])


class PolyDensity(Finder):
    name = "poly_density"
    describe = "fraction of examples above 10 % of the way from the median to the max (units.poly density)"

    def score(self, data: SiteData) -> np.ndarray:
        return np.array([density(col) for col in columns(data)])


class MaxZ(Finder):
    name = "max_z"
    describe = "(max − mean) / std of the unit's values: how far its strongest activation stands out"

    def score(self, data: SiteData) -> np.ndarray:
        cols = columns(data)
        mean = cols.mean(axis=1, dtype=np.float64)
        std = cols.std(axis=1, dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(std > 0, (cols.max(axis=1) - mean) / std, np.nan)


def unigram_predictions(data: SiteData) -> np.ndarray:
    """[U, E_held]: each held-out example's prediction = the unit's mean on the training examples with the
    same target token (the training mean for tokens the training half lacks)."""
    assert data.tokens is not None
    cols, train = columns(data), data.training
    tok_train = np.asarray(data.tokens)[train]
    order = np.argsort(tok_train, kind="stable")
    uniq, starts, counts = np.unique(tok_train[order], return_index=True, return_counts=True)
    sums = np.add.reduceat(cols[:, train][:, order].astype(np.float64), starts, axis=1)  # [U, n_tokens]
    means = np.concatenate([sums / counts, cols[:, train].mean(axis=1, dtype=np.float64)[:, None]], axis=1)
    held_tokens = np.asarray(data.tokens)[~train]
    pos = np.minimum(np.searchsorted(uniq, held_tokens), uniq.size - 1)
    idx = np.where(uniq[pos] == held_tokens, pos, uniq.size)  # unseen token → the last column, the unit mean
    return means[:, idx]


class UnigramR2(Finder):
    name = "unigram_r2"
    describe = "R² on held-out examples of the per-token mean from the training half: how much it is a token lookup"

    def score(self, data: SiteData) -> np.ndarray:
        if data.tokens is None:
            return np.full(data.n_units, np.nan)
        pred, actual = unigram_predictions(data), columns(data)[:, ~data.training]
        out = np.full(data.n_units, np.nan)
        for j in range(data.n_units):
            s = summarize(actual[j], pred[j])
            out[j] = np.nan if CONSTANT_ACTUAL in s.flags else s.r2
        return out


class RandomBaseline(Finder):
    name = "random"
    describe = "uniform random numbers (seeded by the site): what a finder that knows nothing scores"

    def score(self, data: SiteData) -> np.ndarray:
        rng = np.random.default_rng([data.seed, zlib.crc32(f"{data.model}/{data.site}".encode())])
        return rng.random(data.n_units)
