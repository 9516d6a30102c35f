"""The tutorial and a player's progression (mastery, unlocks, learning curves)."""

from __future__ import annotations

from pydantic import Field

from mirrorneuron.web.schemas.common import LevelOut, Strict


class TutorialOut(Strict):
    """Where the player stands with the tutorial (JSON twin of ``/tutorial``)."""

    offered: bool = Field(description="true until the player finishes or skips it")
    done_at: str | None = Field(description="when the player finished or skipped it (UTC, ISO 8601)")
    unit_id: str = Field(description="the tutorial's unit: the default model's most token-lookup-like neuron")
    rule: str = Field(description="how the unit was chosen")
    level: int
    rounds: int
    levels: list[LevelOut] = Field(description="what each level adds, one line each")
    game_id: str | None = Field(description="an unfinished tutorial game of the player, to resume")


class TutorialResultOut(Strict):
    """The end of the tutorial: the player's insight points against the mean bot's on the same rounds."""

    game_id: str
    n_rounds: int
    points: float
    max_points: float
    mean_bot_points: float
    beat_mean_bot: bool
    points_version: str
    done_at: str


class LevelProgressOut(Strict):
    level: int
    rounds: int
    correlation: float | None = Field(description="pooled Pearson correlation over the last window of rounds")
    mastered: bool
    mastered_at_round: int | None
    to_mastery: float = Field(description="0–1: window filled × correlation / threshold (1 when mastered)")
    next_level_unlocked: bool | None = Field(description="whether level + 1 is open (None after level 3)")
    scores: list[float] = Field(description="closeness round score of each round, in play order")
    points: list[float] = Field(description="insight points of each round, in play order")


class UnitProgressOut(Strict):
    unit_id: str
    levels: list[LevelProgressOut]


class RulesOut(Strict):
    mastery_window: int
    mastery_correlation: float
    unlock_after_rounds: int
    open_levels: list[int]
    first_family: str
    enforced: bool = Field(description="whether this server refuses games at locked levels")


class ProgressOut(Strict):
    """JSON twin of the progress part of your profile page (only you see it)."""

    player_id: str
    rules: RulesOut
    mastered: list[str] = Field(description="'unit id · level L' of every mastered pair")
    families_unlocked: bool = Field(description="whether unit kinds beyond the first family are open")
    units: list[UnitProgressOut]
