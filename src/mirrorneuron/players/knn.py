"""The nearest-neighbour bot: the values of the most similar known examples.

Known examples are the round's level-1 references (when the level shows them) plus every example observed
with feedback, kept per unit. Text similarity is a weighted overlap of the target token and the few tokens
before it (the target weighs more than all the others together); image distance is the RMS pixel distance.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from mirrorneuron.game import Example, ImageExample, Reveal, Round, TextExample
from mirrorneuron.players.data import BotData, unit_mean

# Weight of a match at the target, 1, 2 and 3 tokens before it.
CONTEXT_WEIGHTS: tuple[float, ...] = (1.0, 0.5, 0.25, 0.125)
_TOTAL = math.fsum(CONTEXT_WEIGHTS)  # the default weights' sum, computed once (it is called per known example)


def text_similarity(a: TextExample, b: TextExample, weights: Sequence[float] = CONTEXT_WEIGHTS) -> float:
    """Weighted share of aligned positions (counting back from the targets) with equal tokens, in [0, 1]."""
    score = 0.0
    ta, tb, i, j = a.tokens, b.tokens, a.target, b.target
    for back in range(min(len(weights), i + 1, j + 1)):  # back to the first token of the shorter context
        if ta[i - back] == tb[j - back]:
            score += weights[back]
    return score / (_TOTAL if weights is CONTEXT_WEIGHTS else math.fsum(weights))


def distance(a: Example, b: Example) -> float | None:
    """A distance in [0, 1] (text: 1 − similarity; image: RMS pixel difference); ``None`` if incomparable."""
    if isinstance(a, TextExample) and isinstance(b, TextExample):
        return 1.0 - text_similarity(a, b)
    if isinstance(a, ImageExample) and isinstance(b, ImageExample) and a.pixels.shape == b.pixels.shape:
        return float(np.sqrt(np.mean((a.pixels - b.pixels) ** 2)))
    return None


class KnnBot:
    """Predicts the distance-weighted mean value of the ``k`` nearest known examples (weight 1/(d + eps));
    the unit mean when nothing comparable is known (for text: nothing shares a token position)."""

    name = "knn"
    version = "1"  # stored with every play; bump when its guesses change

    def __init__(self, data: BotData | None = None, k: int = 8, eps: float = 0.05) -> None:
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        if eps <= 0:
            raise ValueError(f"eps must be positive, got {eps}")
        self.data, self.k, self.eps = data, k, eps
        self.known: dict[str, dict[int, tuple[Example, float]]] = {}

    def _pool(self, round: Round) -> dict[int, tuple[Example, float]]:
        pool = self.known.setdefault(round.unit_id, {})
        for ref in round.hints.references:
            pool.setdefault(ref.index, (ref.example, ref.value))
        return pool

    def guess(self, round: Round) -> float:
        near: list[tuple[float, float]] = []
        for example, value in self._pool(round).values():
            d = distance(round.example, example)
            if d is not None and not (isinstance(example, TextExample) and d >= 1.0):
                near.append((d, value))
        if not near:
            return unit_mean(self.data, round)
        near.sort(key=lambda dv: dv[0])  # stable: ties keep the order examples became known
        top = near[: self.k]
        weights = [1.0 / (d + self.eps) for d, _ in top]
        return math.fsum(w * v for w, (_, v) in zip(weights, top, strict=True)) / math.fsum(weights)

    def observe(self, round: Round, reveal: Reveal) -> None:
        self._pool(round)[round.index] = (round.example, reveal.actual)
