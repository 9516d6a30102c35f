"""Rounds: what a player is asked. A :class:`Round` never holds the true value; :class:`Reveal` follows."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from mirrorneuron.game.context import Example, UnitContext
from mirrorneuron.game.levels import Hints, Level, UnitStats, build_hints, reference_examples
from mirrorneuron.game.sampling import References, SamplingPlan, Source, draw, split_references
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
    """A unit's rounds at one level, with the reference split they were drawn around."""

    unit_id: str
    level: Level
    rounds: tuple[Round, ...]
    references: References
    stats: UnitStats
    plan: SamplingPlan
    seed: int

    def __iter__(self) -> Iterator[Round]:
        return iter(self.rounds)

    def __len__(self) -> int:
        return len(self.rounds)


def _rng(seed: int, unit_id: str) -> np.random.Generator:
    """A generator fixed by the seed and the unit (so units of one study draw differently)."""
    unit_key = int.from_bytes(hashlib.sha256(unit_id.encode()).digest()[:8], "little")
    return np.random.default_rng([seed, unit_key])


def make_rounds(
    ctx: UnitContext, level: Level | int, n: int, plan: SamplingPlan | None = None, seed: int | None = None
) -> RoundSet:
    """``n`` rounds of ``ctx``'s unit at ``level``; deterministic for (unit, plan, seed).

    ``seed`` overrides ``plan.seed``. References are split off first and never asked.
    """
    if n < 0:
        raise ValueError(f"number of rounds must be >= 0, got {n}")
    level, plan = Level(level), plan or SamplingPlan()
    seed = plan.seed if seed is None else seed
    rng = _rng(seed, ctx.unit_id)
    stats = UnitStats.from_values(ctx.values)
    refs = split_references(ctx.values, plan, rng)
    ref_examples = reference_examples(ctx, refs)
    rounds = tuple(
        Round(
            round_id=make_round_id(ctx.unit_id, d.index, level, seq),
            unit_id=ctx.unit_id,
            index=d.index,
            seq=seq,
            example=ctx.example(d.index),
            level=level,
            hints=build_hints(level, ctx, d.index, ref_examples, stats),
            source=d.source,
            weight=d.weight,
            scale=stats.scale,
        )
        for seq, d in enumerate(draw(ctx.values, plan, n, rng, exclude_mask=~refs.held_out_mask))
    )
    return RoundSet(ctx.unit_id, level, rounds, refs, stats, plan, seed)


def truth_from(*contexts: UnitContext) -> Callable[[Round], float]:
    """The true value of a round, looked up in the context of its unit."""
    by_unit = {c.unit_id: c for c in contexts}

    def truth(round: Round) -> float:
        if round.unit_id not in by_unit:
            raise KeyError(f"no context for unit {round.unit_id!r}")
        return float(by_unit[round.unit_id].values[round.index])

    return truth
