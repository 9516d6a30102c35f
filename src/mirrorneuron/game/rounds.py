"""Rounds: what a player is asked. A :class:`Round` never holds the true value; :class:`Reveal` follows."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from mirrorneuron.game.context import Example, UnitContext
from mirrorneuron.game.levels import Hints, Level, UnitStats, build_hints, reference_examples
from mirrorneuron.game.sampling import (
    Draw,
    GroupRuns,
    References,
    SamplingPlan,
    Source,
    draw,
    split_references,
    training_mask,
)
from mirrorneuron.game.scoring import round_score


def make_round_id(unit_id: str, index: int, level: int, seq: int) -> str:
    """Stable id: hash of unit id, example index, level and sequence number."""
    return hashlib.sha256(f"{unit_id}|{index}|{int(level)}|{seq}".encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Round:
    """One question: (unit, example, level, hints) plus how it was sampled. No true value in here."""

    round_id: str
    unit_id: str
    index: int
    seq: int
    example: Example
    level: Level
    hints: Hints
    source: Source
    weight: float
    scale: float

    def to_dict(self, include_sampling: bool = False) -> dict[str, Any]:
        """JSON-ready view for a player. Sampling source/weight are left out by default: a ``top`` source
        would tell the player the value is high."""
        d: dict[str, Any] = {
            "round_id": self.round_id,
            "unit_id": self.unit_id,
            "seq": self.seq,
            "level": int(self.level),
            "multiplier": self.level.multiplier,
            "scale": self.scale,
            "example": self.example.to_dict(),
            "hints": self.hints.to_dict(),
        }
        if include_sampling:
            d.update(index=self.index, source=self.source, weight=self.weight)
        return d


@dataclass(frozen=True)
class Reveal:
    """The answer, shown after the guess."""

    actual: float
    guess: float
    score: float

    @classmethod
    def of(cls, round: Round, guess: float, actual: float) -> Reveal:
        return cls(float(actual), float(guess), round_score(float(guess), float(actual), round.scale))


@dataclass(frozen=True)
class RoundSet:
    """A unit's rounds at one level, with the training split and references they were drawn around.
    ``training[i]`` is True for the examples that are never asked (level-0/1 facts and bots come from them)."""

    unit_id: str
    level: Level
    rounds: tuple[Round, ...]
    references: References
    stats: UnitStats
    plan: SamplingPlan
    seed: int
    training: np.ndarray

    def __iter__(self) -> Iterator[Round]:
        return iter(self.rounds)

    def __len__(self) -> int:
        return len(self.rounds)


def _rng(seed: int, unit_id: str) -> np.random.Generator:
    """A generator fixed by the seed and the unit (so units of one study draw differently)."""
    unit_key = int.from_bytes(hashlib.sha256(unit_id.encode()).digest()[:8], "little")
    return np.random.default_rng([seed, unit_key])


@dataclass(frozen=True)
class Draws:
    """The examples asked of a unit (in order), and the unit's training split and level-0 facts."""

    draws: tuple[Draw, ...]
    training: np.ndarray
    references: References
    stats: UnitStats


def draw_examples(
    ctx: UnitContext,
    n: int,
    plan: SamplingPlan | None = None,
    seed: int | None = None,
    exclude: Any = None,
    training: np.ndarray | None = None,
    runs: GroupRuns | None = None,
    held_out: np.ndarray | None = None,
) -> Draws:
    """The ``n`` examples a unit's rounds ask, deterministic for (unit, plan, seed) — the same at every level,
    so levels can be compared on the same items.

    Never asked: training examples, and the groups of ``exclude`` (examples whose truth the player has seen,
    e.g. in an earlier game). Excluded groups are skipped in the draw order without changing it, so players
    with different histories still share every item they can be asked. ValueError if fewer than ``n`` remain.
    ``training``: ``training_mask(ctx.groups, plan.training_fraction)`` if already computed (every unit of a
    site shares it), and ``runs`` = ``group_runs(ctx.groups)`` likewise; ``held_out`` = ``np.flatnonzero(~training)``
    (faster: only those examples are put in quantile bins). The draw is the same either way.
    """
    if n < 0:
        raise ValueError(f"number of rounds must be >= 0, got {n}")
    plan = plan or SamplingPlan()
    seed = plan.seed if seed is None else seed
    rng = _rng(seed, ctx.unit_id)
    groups = np.asarray(ctx.groups, dtype=np.int64)
    if training is None:
        training = training_mask(groups, plan.training_fraction)
    elif training.shape != groups.shape:
        raise ValueError(f"training has shape {training.shape}, there are {groups.size} examples")
    stats = UnitStats.from_values(np.asarray(ctx.values)[training])
    refs = split_references(ctx.values, plan, rng, training)
    seen = np.zeros(len(groups), dtype=bool) if exclude is None else np.asarray(exclude, dtype=bool)
    if seen.shape != groups.shape:
        raise ValueError(f"exclude has shape {seen.shape}, there are {groups.size} examples")
    if seen.any():
        seen_groups = np.isin(groups, groups[seen])
        n_skippable = int(np.unique(groups[seen_groups & ~training]).size)
    else:
        seen_groups, n_skippable = seen, 0
    candidates = draw(ctx.values, plan, n + n_skippable, rng, training, groups, runs, held_out=held_out) if n else []
    chosen = tuple(d for d in candidates if not seen_groups[d.index])[:n]
    if len(chosen) < n:
        raise ValueError(
            f"only {len(chosen)} examples of {ctx.unit_id} are left that this player has not seen; "
            f"ask for fewer rounds or harvest more windows"
        )
    return Draws(chosen, training, refs, stats)


def rounds_from(ctx: UnitContext, level: Level | int, draws: Draws, plan: SamplingPlan, seed: int) -> RoundSet:
    """The rounds asking ``draws`` at ``level`` (levels 2–3 run the model for their hints)."""
    level = Level(level)
    ref_examples = reference_examples(ctx, draws.references)
    rounds = tuple(
        Round(
            round_id=make_round_id(ctx.unit_id, d.index, level, seq),
            unit_id=ctx.unit_id,
            index=d.index,
            seq=seq,
            example=ctx.example(d.index),
            level=level,
            hints=build_hints(level, ctx, d.index, ref_examples, draws.stats),
            source=d.source,
            weight=d.weight,
            scale=draws.stats.scale,
        )
        for seq, d in enumerate(draws.draws)
    )
    return RoundSet(ctx.unit_id, level, rounds, draws.references, draws.stats, plan, seed, draws.training)


def make_rounds(
    ctx: UnitContext,
    level: Level | int,
    n: int,
    plan: SamplingPlan | None = None,
    seed: int | None = None,
    exclude: Any = None,
) -> RoundSet:
    """``n`` rounds of ``ctx``'s unit at ``level``; deterministic for (unit, plan, seed), and the same examples
    at every level. ``seed`` overrides ``plan.seed``; see :func:`draw_examples` for what is never asked."""
    plan = plan or SamplingPlan()
    seed = plan.seed if seed is None else seed
    return rounds_from(ctx, level, draw_examples(ctx, n, plan, seed, exclude), plan, seed)


def truth_from(*contexts: UnitContext) -> Callable[[Round], float]:
    """The true value of a round, looked up in the context of its unit."""
    by_unit = {c.unit_id: c for c in contexts}

    def truth(round: Round) -> float:
        if round.unit_id not in by_unit:
            raise KeyError(f"no context for unit {round.unit_id!r}")
        return float(by_unit[round.unit_id].values[round.index])

    return truth
