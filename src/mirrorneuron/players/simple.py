"""The two baseline bots: the unit mean, and the mean per target token (unigram)."""

from __future__ import annotations

from mirrorneuron.game import Reveal, Round, TextExample
from mirrorneuron.players.data import BotData, unit_mean


class MeanBot:
    """Always guesses the unit mean (harvest mean, else the round's level-0 stats mean)."""

    name = "mean"

    def __init__(self, data: BotData | None = None) -> None:
        self.data = data

    def guess(self, round: Round) -> float:
        return unit_mean(self.data, round)

    def observe(self, round: Round, reveal: Reveal) -> None:
        """The mean bot does not learn."""


class UnigramBot:
    """Guesses the mean activation of the example's target token over the harvest; the unit mean for
    tokens never seen in the harvest and for image units."""

    name = "unigram"

    def __init__(self, data: BotData) -> None:
        self.data = data
        self.token_means: dict[str, float] = {}
        if data.target_tokens is not None:
            sums: dict[str, float] = {}
            counts: dict[str, int] = {}
            for token, value in zip(data.target_tokens.tolist(), data.values.tolist(), strict=True):
                sums[token] = sums.get(token, 0.0) + value
                counts[token] = counts.get(token, 0) + 1
            self.token_means = {t: sums[t] / counts[t] for t in sums}

    def guess(self, round: Round) -> float:
        if isinstance(round.example, TextExample):
            mean = self.token_means.get(round.example.target_token)
            if mean is not None:
                return mean
        return unit_mean(self.data, round)

    def observe(self, round: Round, reveal: Reveal) -> None:
        """The unigram table comes from the whole harvest; feedback adds nothing."""
