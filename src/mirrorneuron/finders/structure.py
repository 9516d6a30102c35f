"""Finders on the unit's top examples (the polysemanticity measures of ``units.poly``) and on its weights
(input-weight concentration, alignment with an SAE's decoder directions)."""

from __future__ import annotations

import numpy as np

from mirrorneuron.finders.base import Finder, SiteData
from mirrorneuron.units.poly import CONTEXT, TOP_K, context_clusters, diversity, row_blocks, sortable

TOP_SHARE_K = 5


def top_examples(data: SiteData, k: int = TOP_K) -> np.ndarray:
    """[U, k] indices of each unit's ``k`` highest values, ties to the lower index (as ``units.poly``)."""
    rows = data.rows
    n = rows.shape[1]
    k = min(k, n)
    out = np.full((rows.shape[0], k), -1, dtype=np.int64)
    for sl, block in row_blocks(rows, sortable(rows.dtype)):
        kth = np.partition(block, n - k, axis=1)[:, n - k]  # k-th largest per unit
        for j, (row, t) in enumerate(zip(block, kth, strict=True), start=sl.start):
            cand = np.flatnonzero(row >= t)
            out[j] = cand[np.argsort(-row[cand], kind="stable")][:k]
    return out


def _poly(data: SiteData) -> dict[str, np.ndarray]:
    """top_distinct / top_effective / top_context_clusters of every unit (once per site)."""
    if "poly" in data.memo:
        return dict(data.memo["poly"])
    nan = np.full(data.n_units, np.nan)
    out = {"top_distinct": nan.copy(), "top_effective": nan.copy(), "top_context_clusters": nan.copy()}
    text = data.tokens is not None and data.vocab is not None
    if text or data.labels is not None:
        strings = None
        if text:
            assert data.vocab is not None
            strings = np.asarray([str(t).strip().casefold() for t in data.vocab], dtype=object)
        for j, top in enumerate(top_examples(data)):
            if strings is not None:
                assert data.tokens is not None
                tokens = np.asarray(data.tokens)
                out["top_distinct"][j], out["top_effective"][j] = diversity(strings[tokens[top]].tolist())
                contexts = []
                for e in top.tolist():
                    lo = max(e - e % data.positions, e - CONTEXT)  # the target and up to 8 before, same window
                    contexts.append({t for t in strings[tokens[lo : e + 1]].tolist() if t})
                out["top_context_clusters"][j] = context_clusters(contexts)
            else:
                assert data.labels is not None
                out["top_distinct"][j], out["top_effective"][j] = diversity(np.asarray(data.labels)[top].tolist())
    data.memo["poly"] = out
    return dict(out)


class TopMeasure(Finder):
    """One of the polysemanticity measures on the top-k examples (see ``units.poly``)."""

    def __init__(self, measure: str, describe: str) -> None:
        self.name, self.measure, self.describe = measure, measure, describe

    def score(self, data: SiteData) -> np.ndarray:
        return _poly(data)[self.measure]


class WeightParticipation(Finder):
    name = "weight_participation"
    describe = "participation ratio of the input weights, (Σw²)² / (n·Σw⁴): 1/n = one input, 1 = all equal"

    def score(self, data: SiteData) -> np.ndarray:
        if data.weights is None:
            return np.full(data.n_units, np.nan)
        w2 = np.asarray(data.weights, dtype=np.float64) ** 2
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.asarray(w2.sum(1) ** 2 / (w2.shape[1] * (w2**2).sum(1)))


class WeightTopShare(Finder):
    name = "weight_top5_share"
    describe = f"share of the input weights' squared norm in the {TOP_SHARE_K} largest: concentrated units score high"

    def score(self, data: SiteData) -> np.ndarray:
        if data.weights is None:
            return np.full(data.n_units, np.nan)
        w2 = np.asarray(data.weights, dtype=np.float64) ** 2
        k = min(TOP_SHARE_K, w2.shape[1])
        top = -np.partition(-w2, k - 1, axis=1)[:, :k]
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.asarray(top.sum(1) / w2.sum(1))


class SaeAlignment(Finder):
    name = "sae_alignment"
    describe = "|cosine| of the unit's direction to the nearest decoder direction of an SAE at its site (NaN: none)"

    def score(self, data: SiteData) -> np.ndarray:
        if not data.sae_decoders:
            return np.full(data.n_units, np.nan)
        best = np.zeros(data.n_units)
        for dec in data.sae_decoders:
            d = np.asarray(dec, dtype=np.float64)
            d = d / np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-12)
            best = np.maximum(best, np.abs(d).max(axis=0))  # a neuron's direction is a basis vector e_j
        return best
