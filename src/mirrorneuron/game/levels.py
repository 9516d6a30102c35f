"""Levels (DESIGN.md §5): how much a round reveals, and the hint payload each level builds.

Every level includes the lower levels' information. A hint payload never holds the asked example's value.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Literal

import numpy as np

from mirrorneuron.game.context import Contributions, Example, NeighbourHint, UnitContext
from mirrorneuron.game.sampling import References, sort_values, sorted_quantiles
from mirrorneuron.game.scoring import finite_array, scale_of, unit_scale

# Less information = harder = a larger multiplier on the insight points (game.scoring.insight_points).
_MULTIPLIERS = {0: 2.0, 1: 1.5, 2: 1.2, 3: 1.0}
_DESCRIPTIONS = {
    0: "blind: the unit's id, range and quantiles only; learn from feedback",
    1: "examples: + top-activating and random reference examples with their values",
    2: "neighbours: + activations on this example of upstream, same-layer, downstream units and probes",
    3: "weights: + the unit's weight × input contributions on this example",
}
QUANTILES = (("q01", 0.01), ("q10", 0.10), ("q50", 0.50), ("q90", 0.90), ("q99", 0.99))


class Level(IntEnum):
    BLIND = 0
    EXAMPLES = 1
    NEIGHBOURS = 2
    WEIGHTS = 3

    @property
    def multiplier(self) -> float:
        return _MULTIPLIERS[int(self)]

    @property
    def description(self) -> str:
        return _DESCRIPTIONS[int(self)]

    @classmethod
    def parse(cls, text: str | int) -> Level:
        """A level from ``2``, ``"2"`` or ``"neighbours"`` (case-insensitive)."""
        s = str(text).strip()
        if s.isdigit() and int(s) in cls._value2member_map_:
            return cls(int(s))
        try:
            return cls[s.upper()]
        except KeyError:
            names = ", ".join(f"{m.value}/{m.name.lower()}" for m in cls)
            raise ValueError(f"unknown level {text!r}; choose one of {names}") from None


def _mixed_zero_signs(v: np.ndarray) -> bool:
    """True if ``v`` holds both -0.0 and 0.0 (a sort and a partition may order them differently)."""
    negative = np.signbit(v[v == 0])
    return bool(negative.any() and not negative.all())


@dataclass(frozen=True)
class UnitStats:
    """Level-0 facts about a unit, over all harvested examples."""

    min: float
    max: float
    mean: float
    quantiles: tuple[tuple[str, float], ...]
    scale: float

    @classmethod
    def from_values(cls, values: Any) -> UnitStats:
        v = finite_array("values", values)
        if v.size == 0:
            raise ValueError("values is empty: a unit needs at least one activation")
        lo, hi, mean = float(v.min()), float(v.max()), float(v.mean())  # in the values' order, as numpy sums
        # The quantiles from one sort (numpy's partition per np.quantile call costs more than the sort)
        qs = sorted_quantiles(sort_values(v), [q for _, q in QUANTILES])
        if (qs == 0).any() and _mixed_zero_signs(v):  # a zero quantile's sign is numpy's partition's to tell
            qs, scale = np.quantile(v, [q for _, q in QUANTILES]), unit_scale(v)
        else:  # = unit_scale(v) (q01 and q99 are QUANTILES' first and last)
            scale = scale_of(float(qs[0]), float(qs[-1]), lo, hi)
        named = tuple((name, float(x)) for (name, _), x in zip(QUANTILES, qs, strict=True))
        return cls(lo, hi, mean, named, scale)

    def to_dict(self) -> dict[str, Any]:
        return {
            "min": self.min,
            "max": self.max,
            "mean": self.mean,
            **dict(self.quantiles),
            "scale": self.scale,
        }


@dataclass(frozen=True)
class ReferenceExample:
    """A level-1 reference: an example that is never asked, shown with its value."""

    index: int
    example: Example
    value: float
    kind: Literal["top", "random"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "kind": self.kind,
            "value": self.value,
            "example": self.example.to_dict(),
        }


@dataclass(frozen=True)
class Hints:
    """What a round reveals beyond the example itself; empty fields belong to higher levels."""

    level: Level
    unit_id: str
    stats: UnitStats
    references: tuple[ReferenceExample, ...] = ()
    neighbours: tuple[NeighbourHint, ...] = ()
    contributions: Contributions | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"level": int(self.level), "unit_id": self.unit_id, "stats": self.stats.to_dict()}
        if self.level >= Level.EXAMPLES:
            d["references"] = [r.to_dict() for r in self.references]
        if self.level >= Level.NEIGHBOURS:
            d["neighbours"] = [h.to_dict() for h in self.neighbours]
        if self.level >= Level.WEIGHTS and self.contributions is not None:
            d["contributions"] = self.contributions.to_dict()
        return d


def reference_examples(ctx: UnitContext, references: References) -> tuple[ReferenceExample, ...]:
    """The level-1 reference list: top ones sorted by value (highest first), then the random ones."""
    values = ctx.values
    top = sorted(references.top, key=lambda i: -float(values[i]))
    refs = [ReferenceExample(i, ctx.example(i), float(values[i]), "top") for i in top]
    refs += [ReferenceExample(i, ctx.example(i), float(values[i]), "random") for i in references.random]
    return tuple(refs)


def build_hints(
    level: Level, ctx: UnitContext, index: int, references: Sequence[ReferenceExample], stats: UnitStats
) -> Hints:
    """The hints for asking example ``index`` at ``level`` (ValueError if ``index`` is a reference)."""
    level = Level(level)
    if any(r.index == index for r in references):
        raise ValueError(f"example {index} is a level-1 reference; references are never asked")
    return Hints(
        level=level,
        unit_id=ctx.unit_id,
        stats=stats,
        references=tuple(references) if level >= Level.EXAMPLES else (),
        neighbours=tuple(ctx.neighbours(index)) if level >= Level.NEIGHBOURS else (),
        contributions=ctx.contributions(index) if level >= Level.WEIGHTS else None,
    )
