"""Finders read off the activation matrix alone: density, kurtosis, the polysemanticity density, max-activation z-score, token-unigram R²
and a random baseline. Each scores every unit of a site at once, reading the units' values as rows (``SiteData.rows``,
one transposing copy per site) in blocks of a few units (``units.poly.row_blocks``)."""

from __future__ import annotations

import zlib

import numpy as np

from mirrorneuron.finders.base import Finder, SiteData
from mirrorneuron.game.scoring import r2_rows
from mirrorneuron.units.poly import Moments, density_rows, moments, row_blocks


def unit_moments(data: SiteData) -> Moments:
    """Every unit's :class:`~mirrorneuron.units.poly.Moments` (once per site: density, kurtosis, max_z share them)."""
    if "moments" not in data.memo:
        data.memo["moments"] = moments(data.rows)
    m: Moments = data.memo["moments"]
    return m


class ActivationDensity(Finder):
    name = "density"
    describe = "fraction of examples on which the unit is active (value > 0); dense units fire everywhere"

    def score(self, data: SiteData) -> np.ndarray:
        return unit_moments(data).positive


class Kurtosis(Finder):
    name = "kurtosis"
    describe = "excess kurtosis of the unit's values (units.poly); sparse, peaky units score high"

    def score(self, data: SiteData) -> np.ndarray:
        return unit_moments(data).kurtosis


class PolyDensity(Finder):
    name = "poly_density"
    describe = "fraction of examples above 10 % of the way from the median to the max (units.poly density)"

    def score(self, data: SiteData) -> np.ndarray:
        return density_rows(data.rows)


class MaxZ(Finder):
    name = "max_z"
    describe = "(max − mean) / std of the unit's values: how far its strongest activation stands out"

    def score(self, data: SiteData) -> np.ndarray:
        m = unit_moments(data)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(m.std > 0, (m.max - m.mean) / m.std, np.nan)


def unigram_table(data: SiteData) -> tuple[np.ndarray, np.ndarray]:
    """(means [U, T + 1], column [E_held]): each unit's mean on the training examples of each of the T target
    tokens the training half has, then its training mean; and the column predicting each held-out example
    (its token's, the last one for tokens the training half lacks)."""
    assert data.tokens is not None
    rows, train, tokens = data.rows, data.training, np.asarray(data.tokens)
    uniq, inv, counts = np.unique(tokens[train], return_inverse=True, return_counts=True)
    train_rows, t = np.compress(train, rows, axis=1), uniq.size  # (rows[:, train] is column-major: slow rows)
    means = np.full((data.n_units, t + 1), np.nan)
    bins = None
    for sl, block in row_blocks(train_rows):
        if bins is None:  # (unit in block, token) → one bin; the first blocks' rows, a prefix for the last one
            bins = (inv + t * np.arange(block.shape[0])[:, None]).ravel()
        sums = np.bincount(bins[: block.size], weights=block.ravel(), minlength=block.shape[0] * t)
        means[sl, :t] = sums.reshape(-1, t) / counts
        means[sl, t] = block.mean(axis=1)
    held_tokens = tokens[~train]
    pos = np.minimum(np.searchsorted(uniq, held_tokens), t - 1)  # (both halves have examples: training_mask)
    return means, np.where(uniq[pos] == held_tokens, pos, t)


def unigram_predictions(data: SiteData) -> np.ndarray:
    """[U, E_held]: each held-out example's prediction = the unit's mean on the training examples with the
    same target token (the training mean for tokens the training half lacks)."""
    means, column = unigram_table(data)
    return means[:, column]


class UnigramR2(Finder):
    name = "unigram_r2"
    describe = "R² on held-out examples of the per-token mean from the training half: how much it is a token lookup"

    def score(self, data: SiteData) -> np.ndarray:
        if data.tokens is None:
            return np.full(data.n_units, np.nan)
        (means, column), held = unigram_table(data), np.compress(~data.training, data.rows, axis=1)
        out = np.full(data.n_units, np.nan)
        for sl, block in row_blocks(held):
            r2, constant = r2_rows(block, np.take(means[sl], column, axis=1))
            out[sl] = np.where(constant, np.nan, r2)
        return out


class RandomBaseline(Finder):
    name = "random"
    describe = "uniform random numbers (seeded by the site): what a finder that knows nothing scores"

    def score(self, data: SiteData) -> np.ndarray:
        rng = np.random.default_rng([data.seed, zlib.crc32(f"{data.model}/{data.site}".encode())])
        return rng.random(data.n_units)
