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
from collections.abc import Sequence
from typing import Any

import numpy as np

TOP_K, CONTEXT, JACCARD = 20, 8, 0.25


def density(values: np.ndarray) -> float:
    v = np.asarray(values, dtype=np.float64)
    med, top = float(np.median(v)), float(v.max())
    if top <= med:
        return 0.0
    return float((v > med + 0.1 * (top - med)).mean())


def kurtosis(values: np.ndarray) -> float:
    v = np.asarray(values, dtype=np.float64)
    sd = v.std()
    if sd == 0 or not np.isfinite(sd):
        return 0.0
    return float((((v - v.mean()) / sd) ** 4).mean() - 3.0)


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
