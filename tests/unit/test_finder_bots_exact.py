"""Round 4's bot shortcuts give the old numbers bit for bit: kNN's text similarity with the tokens read once
(against the old loop, kept here), and the ridge bot's level-3 base taken from its "value" feature instead
of computing the contributions' value again; a planted fault in each is caught."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from mirrorneuron.game import Contributions, Hints, Level, Round, TextExample, UnitStats
from mirrorneuron.players import knn
from mirrorneuron.players.ridge import RidgeBot


def old_text_similarity(a: TextExample, b: TextExample, weights: Sequence[float] = knn.CONTEXT_WEIGHTS) -> float:
    score = 0.0
    for back, w in enumerate(weights):
        i, j = a.target - back, b.target - back
        if i < 0 or j < 0:
            break
        if a.tokens[i] == b.tokens[j]:
            score += w
    return score / math.fsum(weights)


def _short_by_one(a: TextExample, b: TextExample, weights: Sequence[float] = knn.CONTEXT_WEIGHTS) -> float:
    """Planted fault: the first token of the shorter context is never compared."""
    score, i, j = 0.0, a.target, b.target
    for back in range(min(len(weights), i, j)):
        if a.tokens[i - back] == b.tokens[j - back]:
            score += weights[back]
    return score / math.fsum(weights)


def _agrees(similarity: Callable[..., float]) -> bool:
    rng = np.random.default_rng(0)
    vocab = ["a", "b", "c", " ", ""]
    ok = True
    for _ in range(3000):
        a, b = (TextExample(tuple(rng.choice(vocab, int(rng.integers(1, 7)))), 0) for _ in range(2))
        a, b = TextExample(a.tokens, int(rng.integers(len(a.tokens)))), TextExample(b.tokens, int(rng.integers(len(b.tokens))))
        for weights in (knn.CONTEXT_WEIGHTS, (0.3, 0.1), (1.0, 0.7, 0.1, 0.2, 0.05, 0.3)):
            ok &= similarity(a, b, weights) == old_text_similarity(a, b, weights)
    return bool(ok)


def test_text_similarity_equals_the_old_loop() -> None:
    assert _agrees(knn.text_similarity)
    assert not _agrees(_short_by_one)


def _level3_round(pre: float) -> Round:
    stats = UnitStats.from_values(np.array([0.0, 1.0]))
    c = Contributions((("x0", pre - 0.25), ("x1", 0.125)), 0.125, "gelu", precision="float32")
    hints = Hints(Level.WEIGHTS, "u", stats, contributions=c)
    return Round("r", "u", 0, 0, TextExample(("a",), 0), Level.WEIGHTS, hints, "random", 1.0, 1.0)


def test_the_ridge_level_3_base_is_the_contributions_value() -> None:
    for pre in np.linspace(-3.0, 3.0, 41):
        rnd = _level3_round(float(pre))
        assert rnd.hints.contributions is not None
        assert RidgeBot()._base(rnd) == rnd.hints.contributions.value()
        planted = RidgeBot()
        planted._of(rnd)["features"] = {"value": rnd.hints.contributions.preactivation}  # a stale feature
        assert planted._base(rnd) != rnd.hints.contributions.value() or pre == 0.0
