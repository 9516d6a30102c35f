"""Polysemanticity measures of one unit, from its values over a harvest.

- ``density``: fraction of examples above 10 % of the way from the median to the max (for ReLU units and SAE
  features, whose median is 0, that is "above 10 % of the max"); a monosemantic feature fires rarely.
- ``kurtosis``: excess kurtosis of the values (0 for a Gaussian; sparse, peaky units score high).
- ``top_distinct``: how many distinct target tokens (text; stripped, case-folded) or digit classes (images)
  the top-k examples have; ``top_effective``: exp(entropy) of that distribution (1 = one token, k = all different).
- ``top_context_clusters`` (text): the top-k examples grouped by their context (the set of stripped, case-folded
  tokens in the target and the 8 before it): two examples join when their sets' Jaccard similarity is ≥ 0.25;
  the number of groups (single linkage). Several clusters = the unit fires in unrelated contexts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

TOP_K, CONTEXT, JACCARD = 20, 8, 0.25


BLOCK = 1 << 18  # values per block of rows: many long rows go through a few at a time (2 MB of float64)


def row_blocks(rows: np.ndarray, dtype: Any = np.float64) -> Iterator[tuple[slice, np.ndarray]]:
    """(slice, block): the rows of ``rows`` [m, n], about :data:`BLOCK` values (at least one row) at a time, cast
    to ``dtype`` in one buffer that every block reuses (a fresh array per block costs its page faults again),
    so each block may be changed in place and is gone at the next step."""
    m, n = rows.shape
    step = max(1, BLOCK // max(1, n))
    buf = np.empty((min(step, m), n), dtype=dtype)
    for i in range(0, m, step):
        sl = slice(i, min(i + step, m))
        block = buf[: sl.stop - sl.start]
        np.copyto(block, rows[sl], casting="unsafe")
        yield sl, block


def _rows(values: np.ndarray, what: str) -> np.ndarray:
    rows = np.asarray(values)
    if rows.ndim != 2 or rows.shape[1] == 0:
        raise ValueError(f"{what} needs rows of at least one value, [units, n]; got shape {rows.shape}")
    return rows


def sortable(dtype: Any) -> np.dtype[Any]:
    """The dtype to sort or partition values of ``dtype`` in: float32 at least (exact for float16, whose
    comparisons numpy does slowly)."""
    return np.result_type(dtype, np.float32)


@dataclass(frozen=True)
class Moments:
    """Per row of values (population statistics, float64): ``positive`` = fraction of values > 0;
    ``kurtosis`` = excess kurtosis mean(((v − mean) / std)⁴) − 3, 0 where std is 0 or not finite."""

    mean: np.ndarray
    std: np.ndarray
    max: np.ndarray
    positive: np.ndarray
    kurtosis: np.ndarray


def moments(values: np.ndarray) -> Moments:
    """:class:`Moments` of each row of ``values`` [m, n], centred within each block of rows (the mean first,
    then the centred powers of the same block, in cache)."""
    rows = _rows(values, "moments")
    n = rows.shape[1]
    out = np.full((5, rows.shape[0]), np.nan)  # (a row no block reached is NaN, never stale memory)
    for sl, x in row_blocks(rows):
        out[3, sl] = np.count_nonzero(x > 0, axis=1) / n
        out[2, sl] = x.max(axis=1)
        out[0, sl] = mean = x.mean(axis=1)
        x -= mean[:, None]
        x *= x  # (v − mean)²
        var = x.sum(axis=1) / n
        out[1, sl] = sd = np.sqrt(var)
        ok = (sd > 0) & np.isfinite(sd)
        x *= np.where(ok, 1.0 / np.where(ok, var, 1.0), 0.0)[:, None]  # ((v − mean) / std)²
        x *= x
        out[4, sl] = np.where(ok, x.sum(axis=1) / n - 3.0, 0.0)
    return Moments(*out)


def density_rows(values: np.ndarray) -> np.ndarray:
    """:func:`density` of each row of ``values`` [m, n]; the median from one partition per row, as np.median
    has it (the mean of the two middle values when n is even)."""
    rows = _rows(values, "density")
    n, k = rows.shape[1], rows.shape[1] // 2
    out = np.full(rows.shape[0], np.nan)
    for sl, x in row_blocks(rows, sortable(rows.dtype)):
        x.partition(k, axis=1)  # x[:, k] is each row's k-th smallest, the values before it are ≤ it
        hi = x[:, k].astype(np.float64)
        med = hi if n % 2 else (x[:, :k].max(axis=1).astype(np.float64) + hi) / 2
        top = x[:, k:].max(axis=1).astype(np.float64)
        above = np.count_nonzero(x > (med + 0.1 * (top - med))[:, None], axis=1) / n
        out[sl] = np.where(top <= med, 0.0, above)
    return out


def density(values: np.ndarray) -> float:
    return float(density_rows(np.asarray(values, dtype=np.float64).reshape(1, -1))[0])


def kurtosis(values: np.ndarray) -> float:
    return float(moments(np.asarray(values, dtype=np.float64).reshape(1, -1)).kurtosis[0])


def top_examples(values: np.ndarray, k: int = TOP_K) -> np.ndarray:
    """Indices of the ``k`` highest values (ties: lower index first)."""
    return np.argsort(-np.asarray(values, dtype=np.float64), kind="stable")[:k]


def diversity(labels: Sequence[Any]) -> tuple[int, float]:
    """(number of distinct labels, exp(entropy) of their distribution)."""
    counts = np.array(list(Counter(labels).values()), dtype=np.float64)
    if not counts.size:
        return 0, 0.0
    p = counts / counts.sum()
    return int(counts.size), float(np.exp(-(p * np.log(p)).sum()))


def context_clusters(contexts: Sequence[set[str]], threshold: float = JACCARD) -> int:
    """Single-linkage groups of token sets whose Jaccard similarity reaches ``threshold``."""
    parent = list(range(len(contexts)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(len(contexts)):
        for j in range(i + 1, len(contexts)):
            union = contexts[i] | contexts[j]
            if union and len(contexts[i] & contexts[j]) / len(union) >= threshold:
                parent[find(i)] = find(j)
    return len({find(i) for i in range(len(contexts))})


def polysemanticity(
    values: np.ndarray, top_labels: Sequence[Any] | None = None, top_contexts: Sequence[set[str]] | None = None
) -> dict[str, float | int]:
    """The measures above; ``top_labels``/``top_contexts`` belong to the :func:`top_examples` in order."""
    out: dict[str, float | int] = {"density": density(values), "kurtosis": kurtosis(values), "top_k": TOP_K}
    if top_labels is not None:
        out["top_distinct"], out["top_effective"] = diversity(top_labels)
    if top_contexts is not None:
        out["top_context_clusters"] = context_clusters(top_contexts)
    return out


def unit_polysemanticity(ctx: Any, k: int = TOP_K) -> dict[str, float | int]:
    """Measures for a harvested unit (a :class:`~mirrorneuron.units.base.HarvestedUnit`)."""
    values = np.asarray(ctx.values, dtype=np.float64)
    top = top_examples(values, k)
    h = ctx.harvest
    if ctx.modality == "image":
        try:
            from mirrorneuron.corpus import load_digits

            classes = load_digits().labels
            digits = [int(classes[e]) for e in top] if h.n_windows == len(classes) else None
        except ImportError:
            digits = None
        return polysemanticity(values, digits)
    tokens = ctx.target_tokens()
    labels = [str(tokens[e]).strip().casefold() for e in top]
    contexts = []
    for e in top:
        w, p = h.example_location(int(e))
        window = ctx.window_tokens(w)
        contexts.append({t.strip().casefold() for t in window[max(0, p - CONTEXT) : p + 1] if t.strip()})
    return polysemanticity(values, labels, contexts)
