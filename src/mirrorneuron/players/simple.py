"""The two baseline bots: the unit mean, and the mean per target token (unigram)."""

from __future__ import annotations

import numpy as np

from mirrorneuron.game import Reveal, Round, TextExample
from mirrorneuron.players.data import BotData, unit_mean


class MeanBot:
    """Always guesses the unit mean (harvest mean, else the round's level-0 stats mean)."""

    name = "mean"
    version = "1"  # stored with every play; bump when its guesses change

    def __init__(self, data: BotData | None = None) -> None:
        self.data = data

    def guess(self, round: Round) -> float:
        return unit_mean(self.data, round)

    def observe(self, round: Round, reveal: Reveal) -> None:
        """The mean bot does not learn."""


class UnigramBot:
    """Guesses the mean activation of the example's target token over the training examples and the rounds
    revealed so far; the unit mean for tokens never seen and for image units."""

    name = "unigram"
    version = "2"  # stored with every play; bump when its guesses change

    def __init__(self, data: BotData) -> None:
        self.data = data
        self.sums: dict[str, float] = {}
        self.counts: dict[str, int] = {}
        if data.target_tokens is not None and data.values.size:
            # One pass numbering the tokens, then bincount: it adds each token's values in example order, as
            # the loop of ``_add`` would, so the table (and every guess) is bit-for-bit the same.
            index, codes = data.token_codes  # shared by the units of a site (``BotData.with_values``)
            sums = np.bincount(codes, weights=data.values, minlength=len(index))
            counts = np.bincount(codes, minlength=len(index))
            self.sums = dict(zip(index, sums.tolist(), strict=True))
            self.counts = dict(zip(index, counts.tolist(), strict=True))

    def _add(self, token: str, value: float) -> None:
        self.sums[token] = self.sums.get(token, 0.0) + value
        self.counts[token] = self.counts.get(token, 0) + 1

    def guess(self, round: Round) -> float:
        if isinstance(round.example, TextExample):
            token = round.example.target_token
            if token in self.counts:
                return self.sums[token] / self.counts[token]
        return unit_mean(self.data, round)

    def observe(self, round: Round, reveal: Reveal) -> None:
        """A reveal adds its token's value to the table, as a human would remember it."""
        if isinstance(round.example, TextExample):
            self._add(round.example.target_token, reveal.actual)
