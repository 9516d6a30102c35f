"""Models (the zoo, the built-in real models, registered ones) and the home page."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from mirrorneuron.web.schemas.common import LevelOut, Strict


class SiteOut(Strict):
    name: str
    width: int


class ModelOut(Strict):
    name: str
    kind: Literal["zoo", "built-in", "registered"]
    task: str | None = Field(description="the zoo's training task (lm, digits); null outside the zoo")
    modality: str
    description: str = Field(description="what it is; for a registered model, its source")
    trained: bool = Field(description="it has trained weights (only a zoo entry can lack them)")
    ready: bool = Field(description="playable on this machine now")
    install_hint: str | None = Field(description="the command that makes it ready; null when it is")
    default: bool
    sites: list[SiteOut] = Field(description="neuron sites of ready zoo models (others are not loaded to list)")


class HomeOut(Strict):
    """What the home page offers: the ready models (and the installable ones), the levels and the defaults."""

    models: list[ModelOut]
    levels: list[LevelOut]
    default_model: str
    default_level: int
    default_rounds: int


class Health(Strict):
    status: str
