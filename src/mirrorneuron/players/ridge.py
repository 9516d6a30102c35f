"""The online ridge-regression bot: refits a closed-form ridge on the level's hint features after every
observed round (see :mod:`mirrorneuron.players.features`).

The model predicts the deviation from a base guess — the unit mean, or at level 3 the value the
contributions compute (whenever the payload determines it) — as ``base + x·w`` where ``x`` holds the features plus a
constant, each column scaled to unit RMS over the observed rounds; ``w`` minimises
``|y − base − Xw|² + alpha·|w|²``. With nothing observed it predicts the base. Columns are named
(token bucket, neighbour label, contribution term), so they align across rounds; a name never seen in
training counts as 0. State is kept per (unit, level).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import compress
from typing import Any

import numpy as np

from mirrorneuron.game import Level, Reveal, Round
from mirrorneuron.players.data import BotData, unit_mean
from mirrorneuron.players.features import N_BUCKETS, Features, round_features

BIAS = "bias"


def ridge_solve(x: np.ndarray, y: np.ndarray, alpha: float) -> np.ndarray:
    """argmin_w |y − xw|² + alpha|w|², via the primal (p ≤ n) or dual (p > n) normal equations."""
    n, p = x.shape
    if p <= n:
        return np.asarray(np.linalg.solve(x.T @ x + alpha * np.eye(p), x.T @ y))
    return np.asarray(x.T @ np.linalg.solve(x @ x.T + alpha * np.eye(n), y))


@dataclass
class RidgeFit:
    columns: dict[str, int] = field(default_factory=dict)
    scale: np.ndarray = field(default_factory=lambda: np.zeros(0))
    weights: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def predict(self, feats: Features) -> float:
        x = np.zeros(len(self.columns))
        for name, value in feats.items():
            col = self.columns.get(name)
            if col is not None:
                x[col] = value
        return float((x / self.scale) @ self.weights)


def fit(rows: list[Features], targets: list[float], alpha: float) -> RidgeFit:
    """Ridge on named sparse rows; columns in first-seen order, all-zero columns dropped."""
    return _Memory(list(rows), list(targets)).refit(alpha)


def _fit_matrix(x: np.ndarray, columns: dict[str, int], targets: list[float], alpha: float) -> RidgeFit:
    rms = np.sqrt(np.add.reduce(x * x, axis=0) / x.shape[0])  # = np.mean's own sum and division, without its checks
    nonzero = rms > 0
    keep = np.flatnonzero(nonzero)
    # columns are numbered in first-seen order, so the kept ones, in order, are numbered 0, 1, … among themselves
    # (all of them, the common case: the same dict). x[:, keep] even then: its memory order is the solve's input.
    same = keep.size == len(columns)
    kept = dict(columns) if same else dict(zip(compress(columns, nonzero.tolist()), range(keep.size), strict=True))
    xs = x[:, keep] / rms[keep]
    weights = ridge_solve(xs, np.asarray(targets, dtype=np.float64), alpha)
    return RidgeFit(kept, rms[keep], weights)


@dataclass
class _Memory:
    """The observed rows and targets, with the design matrix kept as the rows arrive (columns in first-seen
    order, in a buffer that grows by doubling) so a refit after each round does not rebuild it from the
    named rows."""

    rows: list[Features] = field(default_factory=list)
    targets: list[float] = field(default_factory=list)
    fit: RidgeFit | None = None
    columns: dict[str, int] = field(default_factory=dict)
    buffer: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))

    def __post_init__(self) -> None:
        self._index(self.rows, 0)

    def _index(self, rows: list[Features], start: int) -> None:
        for i, row in enumerate(rows, start):
            cols = [self.columns.setdefault(name, len(self.columns)) for name in row]
            n, p = self.buffer.shape
            if i >= n or len(self.columns) > p:
                grown = np.zeros((max(i + 1, 2 * n), max(len(self.columns), 2 * p)))
                grown[:n, :p] = self.buffer
                self.buffer = grown
            self.buffer[i, cols] = list(row.values())

    def add(self, row: Features, target: float, max_history: int) -> None:
        self.rows.append(row)
        self.targets.append(target)
        if len(self.rows) > max_history:  # the oldest rows go: index what is left from scratch
            del self.rows[:-max_history], self.targets[:-max_history]
            self.columns, self.buffer = {}, np.zeros((0, 0))
            self._index(self.rows, 0)
        else:
            self._index([row], len(self.rows) - 1)

    def refit(self, alpha: float) -> RidgeFit:
        x = self.buffer[: len(self.rows), : len(self.columns)].copy()  # contiguous, as a fresh matrix would be
        self.fit = _fit_matrix(x, self.columns, self.targets, alpha)
        return self.fit


class RidgeBot:
    """Online ridge regression on the round's hint features; near-exact at level 3 after a few rounds."""

    name = "ridge"
    version = "1"  # stored with every play; bump when its guesses change

    def __init__(
        self,
        data: BotData | None = None,
        alpha: float = 0.1,
        n_buckets: int = N_BUCKETS,
        max_history: int = 2000,
    ) -> None:
        if alpha <= 0:
            raise ValueError(f"alpha must be positive, got {alpha}")
        if n_buckets < 1 or max_history < 1:
            raise ValueError("n_buckets and max_history must be at least 1")
        self.data, self.alpha, self.n_buckets, self.max_history = data, alpha, n_buckets, max_history
        self.memory: dict[tuple[str, int], _Memory] = {}
        self._last: tuple[Round, dict[str, Any]] | None = None  # the round asked last: its base and features

    def _of(self, round: Round) -> dict[str, Any]:
        """What :meth:`guess` and then :meth:`observe` of the same round both compute, computed once."""
        if self._last is None or self._last[0] is not round:
            self._last = (round, {})
        return self._last[1]

    def _features(self, round: Round) -> Features:
        memo = self._of(round)
        if "features" not in memo:
            memo["features"] = {BIAS: 1.0, **round_features(round, self.n_buckets)}
        return memo["features"]

    def _base(self, round: Round) -> float:
        """The prior guess the fit corrects: the value the contributions compute (level 3), else the mean."""
        memo = self._of(round)
        if "base" not in memo:
            c = round.hints.contributions if round.level >= Level.WEIGHTS else None
            # the computed value is then the round's "value" feature (players.features): computed once
            memo["base"] = self._features(round)["value"] if c is not None and c.computable else unit_mean(self.data, round)
        return memo["base"]

    def guess(self, round: Round) -> float:
        base = self._base(round)
        mem = self.memory.get((round.unit_id, int(round.level)))
        if mem is None or mem.fit is None:
            return base
        guess = base + mem.fit.predict(self._features(round))
        return guess if np.isfinite(guess) else base

    def observe(self, round: Round, reveal: Reveal) -> None:
        mem = self.memory.setdefault((round.unit_id, int(round.level)), _Memory())
        mem.add(self._features(round), reveal.actual - self._base(round), self.max_history)
        mem.refit(self.alpha)
