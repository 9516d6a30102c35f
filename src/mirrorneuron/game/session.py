"""A session: one player plays a list of rounds; every player (human or bot) goes through this code."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Protocol

import numpy as np

from mirrorneuron.game.rounds import Reveal, Round
from mirrorneuron.game.scoring import POINTS_VERSION, ScoreSummary, insight_points, summarize


class StopSession(Exception):
    """Raised by a player to end the session early; the rounds played so far are kept."""


class Player(Protocol):
    """Anything that guesses a unit's value on a round and (optionally) learns from the reveal."""

    @property
    def name(self) -> str: ...

    def guess(self, round: Round) -> float: ...

    def observe(self, round: Round, reveal: Reveal) -> None: ...


def round_points(round: Round, guess: float, actual: float) -> float:
    """Insight points of ``guess`` on ``round``; the baseline is the round's level-0 mean."""
    return insight_points(guess, actual, round.hints.stats.mean, round.scale, round.level.multiplier)


@dataclass(frozen=True)
class RoundResult:
    round: Round
    guess: float
    actual: float
    score: float
    seconds: float

    @property
    def points(self) -> float:
        """Insight points: how much better the guess was than the unit mean, × the level's multiplier."""
        return round_points(self.round, self.guess, self.actual)

    @property
    def max_points(self) -> float:
        """The points a perfect guess would have earned on this round."""
        return round_points(self.round, self.actual, self.actual)

    def to_dict(self) -> dict[str, Any]:
        return {
            "round": self.round.to_dict(include_sampling=True),
            "guess": self.guess,
            "actual": self.actual,
            "score": self.score,
            "points": self.points,
            "max_points": self.max_points,
            "seconds": self.seconds,
        }


def running_mean(x: Any) -> np.ndarray:
    """Mean of ``x[:k+1]`` at each k."""
    a = np.asarray(x, dtype=np.float64)
    return np.cumsum(a) / np.arange(1, a.size + 1) if a.size else np.zeros(0)


def moving_mean(x: Any, window: int) -> np.ndarray:
    """Trailing mean over the last ``window`` values at each k (fewer at the start)."""
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    a = np.asarray(x, dtype=np.float64)
    c = np.concatenate([[0.0], np.cumsum(a)])
    k = np.arange(1, a.size + 1)
    lo = np.maximum(k - window, 0)
    return np.asarray((c[k] - c[lo]) / (k - lo))


def summarize_results(results: Sequence[RoundResult]) -> ScoreSummary:
    """The §6 summary of played rounds, re-weighted with their sampling weights too."""
    return summarize(
        [r.actual for r in results],
        [r.guess for r in results],
        scale=[r.round.scale for r in results],
        weights=[r.round.weight for r in results],
    )


@dataclass(frozen=True)
class SessionResult:
    player: str
    results: tuple[RoundResult, ...]
    interrupted: bool = False

    @cached_property
    def summary(self) -> ScoreSummary:
        """Made on first use (a finder reads only the correlation: ``scoring.pooled_correlation``)."""
        return summarize_results(self.results)

    @property
    def scores(self) -> np.ndarray:
        return np.array([r.score for r in self.results], dtype=np.float64)

    @property
    def total_points(self) -> float:
        return float(sum(r.points for r in self.results))

    @property
    def max_points(self) -> float:
        """The most points these rounds allow (every guess perfect): a player sees "x of max y"."""
        return float(sum(r.max_points for r in self.results))

    def learning_curve(self, window: int | None = None) -> np.ndarray:
        """Round score by round index: the running mean, or a trailing moving mean over ``window``."""
        return running_mean(self.scores) if window is None else moving_mean(self.scores, window)

    def to_dict(self) -> dict[str, Any]:
        return {
            "player": self.player,
            "interrupted": self.interrupted,
            "summary": self.summary.to_dict(),
            "total_points": self.total_points,
            "max_points": self.max_points,
            "points_version": POINTS_VERSION,
            "results": [r.to_dict() for r in self.results],
        }


def _as_guess(player: Player, raw: Any) -> float:
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise ValueError(f"player {player.name!r} returned {raw!r}, which is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"player {player.name!r} guessed {value!r}; a guess must be a finite number")
    return value


def run_session(
    player: Player,
    rounds: Iterable[Round],
    truth: Callable[[Round], float],
    feedback: bool = True,
    clock: Callable[[], float] = time.perf_counter,
    on_guess: Callable[[Round, float, float], None] | None = None,
) -> SessionResult:
    """Play ``rounds`` in order: guess, ``on_guess(round, guess, seconds)`` (e.g. store it: a guess is durable
    before its reveal), reveal ``truth(round)``, score, and (if ``feedback``) let the player observe.
    KeyboardInterrupt or :class:`StopSession` from the player ends it early with ``interrupted=True``, keeping
    the rounds already played. A non-finite guess raises ValueError."""
    results: list[RoundResult] = []
    interrupted = False
    try:
        for rnd in rounds:
            start = clock()
            guess = _as_guess(player, player.guess(rnd))
            seconds = clock() - start
            if on_guess is not None:
                on_guess(rnd, guess, seconds)
            reveal = Reveal.of(rnd, guess, truth(rnd))
            results.append(RoundResult(rnd, reveal.guess, reveal.actual, reveal.score, seconds))
            if feedback:
                player.observe(rnd, reveal)
    except (KeyboardInterrupt, StopSession):
        interrupted = True
    return SessionResult(player.name, tuple(results), interrupted)
