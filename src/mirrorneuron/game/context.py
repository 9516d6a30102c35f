"""What the game sees of one unit: its true values, the examples, and level-2/3 data.

The outer layers (harvest, models) implement :class:`UnitContext`; :class:`ArrayContext` is a plain in-memory
implementation (tests, planted units, small studies).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, get_args

import numpy as np

from mirrorneuron.game.contributions import (  # noqa: F401  (re-exported: the game's public names)
    ELEMENTWISE,
    Contributions,
    apply_nonlinearity,
    is_elementwise,
)

NeighbourGroup = Literal["upstream", "same-layer", "downstream", "probe"]
NEIGHBOUR_GROUPS: tuple[str, ...] = get_args(NeighbourGroup)  # checked per hint: computed once, not per check


@dataclass(frozen=True)
class TextExample:
    """A text window (token strings) with one target position; tokens after the target may be absent."""

    tokens: tuple[str, ...]
    target: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "tokens", tuple(str(t) for t in self.tokens))
        if not 0 <= self.target < len(self.tokens):
            raise ValueError(f"target position {self.target} is outside the window of {len(self.tokens)} tokens")

    @property
    def target_token(self) -> str:
        return self.tokens[self.target]

    @property
    def content_id(self) -> str:
        """Stable id: hash of the content."""
        blob = json.dumps([list(self.tokens), self.target], ensure_ascii=False).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "text", "tokens": list(self.tokens), "target": self.target}


@dataclass(frozen=True, eq=False)
class ImageExample:
    """A 2-D grayscale image with pixels in [0, 1] (stored as a read-only float64 copy)."""

    pixels: np.ndarray

    def __post_init__(self) -> None:
        arr = np.array(self.pixels, dtype=np.float64)
        if arr.ndim != 2:
            raise ValueError(f"image pixels must be a 2-D array, got shape {arr.shape}")
        if not np.all(np.isfinite(arr)) or arr.min(initial=0.0) < 0.0 or arr.max(initial=0.0) > 1.0:
            raise ValueError("image pixels must be finite and in [0, 1]")
        arr.setflags(write=False)
        object.__setattr__(self, "pixels", arr)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ImageExample) and np.array_equal(self.pixels, other.pixels)

    def __hash__(self) -> int:
        return hash(self.content_id)

    @property
    def content_id(self) -> str:
        """Stable id: hash of the content (shape + float32 pixels)."""
        blob = repr(self.pixels.shape).encode() + self.pixels.astype(np.float32).tobytes()
        return hashlib.sha256(blob).hexdigest()[:16]

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "image", "pixels": self.pixels.round(4).tolist()}


Example = TextExample | ImageExample


@dataclass(frozen=True)
class NeighbourHint:
    """Level 2: the activation on this example of a related unit."""

    label: str
    group: NeighbourGroup
    value: float

    def __post_init__(self) -> None:
        if self.group not in NEIGHBOUR_GROUPS:
            raise ValueError(f"neighbour group {self.group!r} is not one of {NEIGHBOUR_GROUPS}")
        if not math.isfinite(self.value):
            raise ValueError(f"neighbour {self.label!r} has a non-finite value")
        object.__setattr__(self, "value", float(self.value))

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "group": self.group, "value": self.value}


class UnitContext(Protocol):
    """One harvested unit as the game needs it. ``values[i]`` is the true activation on example ``i``;
    ``groups[i]`` the group (text: window) of example ``i`` — a reveal shows values of the whole group."""

    @property
    def unit_id(self) -> str: ...

    @property
    def values(self) -> np.ndarray: ...

    @property
    def groups(self) -> np.ndarray: ...

    def example(self, index: int) -> Example: ...

    def neighbours(self, index: int) -> Sequence[NeighbourHint]: ...

    def contributions(self, index: int) -> Contributions: ...


@dataclass
class ArrayContext:
    """An in-memory :class:`UnitContext` built from lists; missing level-2/3 data raises on use. Without
    ``groups`` every example is its own group."""

    unit_id: str
    values: np.ndarray
    examples: Sequence[Example]
    neighbour_lists: Sequence[Sequence[NeighbourHint]] | None = None
    contribution_list: Sequence[Contributions] | None = None
    groups: np.ndarray = None  # type: ignore[assignment]  # filled in __post_init__

    def __post_init__(self) -> None:
        self.values = np.asarray(self.values, dtype=np.float64)
        n = len(self.values)
        self.groups = np.arange(n) if self.groups is None else np.asarray(self.groups, dtype=np.int64)
        for name, seq in (
            ("groups", self.groups),
            ("examples", self.examples),
            ("neighbour_lists", self.neighbour_lists),
            ("contribution_list", self.contribution_list),
        ):
            if seq is not None and len(seq) != n:
                raise ValueError(f"{name} has {len(seq)} entries but there are {n} values")

    def example(self, index: int) -> Example:
        return self.examples[index]

    def neighbours(self, index: int) -> Sequence[NeighbourHint]:
        if self.neighbour_lists is None:
            raise ValueError(f"unit {self.unit_id} has no level-2 (neighbour) data")
        return self.neighbour_lists[index]

    def contributions(self, index: int) -> Contributions:
        if self.contribution_list is None:
            raise ValueError(f"unit {self.unit_id} has no level-3 (contribution) data")
        return self.contribution_list[index]
