"""Models of the zoo and the home page."""

from __future__ import annotations

from mirrorneuron.web.schemas.common import LevelOut, Strict


class SiteOut(Strict):
    name: str
    width: int


class ModelOut(Strict):
    name: str
    task: str
    modality: str
    description: str
    trained: bool
    default: bool
    sites: list[SiteOut]


class HomeOut(Strict):
    """What the home page offers: the trained models, the levels and the defaults of a new game."""

    models: list[ModelOut]
    levels: list[LevelOut]
    default_model: str
    default_level: int
    default_rounds: int


class Health(Strict):
    status: str
