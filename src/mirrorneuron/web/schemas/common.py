"""Shared pieces: the strict base model, examples, unit stats, hints and error bodies."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Problem(Strict):
    """Every 4xx/5xx answer: one line saying what was wrong."""

    detail: str


class FieldProblem(Strict):
    loc: list[str | int]
    msg: str
    type: str


class ValidationProblem(Strict):
    """A 422: ``detail`` is one readable line; ``errors`` lists each bad field."""

    detail: str
    errors: list[FieldProblem]


class TextExampleOut(Strict):
    kind: Literal["text"]
    tokens: list[str]
    target: int


class ImageExampleOut(Strict):
    kind: Literal["image"]
    pixels: list[list[float]]


ExampleOut = Annotated[TextExampleOut | ImageExampleOut, Field(discriminator="kind")]


class StatsOut(Strict):
    min: float
    max: float
    mean: float
    q01: float
    q10: float
    q50: float
    q90: float
    q99: float
    scale: float


class ReferenceOut(Strict):
    index: int
    kind: Literal["top", "random"]
    value: float
    example: ExampleOut


class NeighbourOut(Strict):
    label: str
    group: Literal["upstream", "same-layer", "downstream", "probe"]
    value: float


class LinearPartOut(Strict):
    terms: list[tuple[str, float]]
    bias: float


class SoftmaxOut(Strict):
    log_z: float
    units: int


class LayerNormOut(Strict):
    mean: float
    std: float
    gain: float
    bias: float


class ContributionsOut(Strict):
    """Level 3: the parts the value follows from (``formula`` says how); ``exact`` False = "3 · approximate"."""

    terms: list[tuple[str, float]]
    bias: float
    nonlinearity: str
    elementwise: bool
    up: LinearPartOut | None = None
    softmax: SoftmaxOut | None = None
    layernorm: LayerNormOut | None = None
    offset: float = 0.0
    precision: Literal["float16", "float32", "float64"] = "float64"
    exact: bool = True
    formula: str = ""


class HintsOut(Strict):
    """What the level reveals: stats always; references from level 1, neighbours from 2, contributions at 3."""

    level: int
    unit_id: str
    stats: StatsOut
    references: list[ReferenceOut] | None = None
    neighbours: list[NeighbourOut] | None = None
    contributions: ContributionsOut | None = None


class LevelOut(Strict):
    level: int
    name: str
    description: str
    multiplier: float


class ExampleValue(Strict):
    """A harvested example with this unit's value on it (unit pages only, never in a round)."""

    index: int
    value: float
    example: ExampleOut
