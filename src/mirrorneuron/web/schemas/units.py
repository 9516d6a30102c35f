"""Unit dashboards, custom text, leaderboards and players."""

from __future__ import annotations

from pydantic import Field

from mirrorneuron.web.schemas.common import ExampleValue, StatsOut, Strict
from mirrorneuron.web.schemas.games import PlayerScore


class HistogramOut(Strict):
    edges: list[float]
    counts: list[int]


class BinOut(Strict):
    """One quantile bin of the unit's values, with a few examples from it."""

    lo: float
    hi: float
    count: int
    examples: list[ExampleValue]


class LevelPlayOut(Strict):
    level: int
    players: int
    guesses: int
    mean_score: float | None
    humans: int
    bots: int


class FinderScoreOut(Strict):
    """One automated finder's score of the unit (``mirrorneuron finders run``)."""

    finder: str
    version: str
    score: float | None = Field(description="null where the finder cannot score this unit")
    percentile: float | None = Field(description="percent of the model's scored units scoring lower (ties half)")
    n_units: int = Field(description="how many units of the model this finder scored")


class UnitOut(Strict):
    """A unit's dashboard. ``withheld``: you have an unfinished game on this unit, so examples with values
    (which could hold a round's answer), the player stats and the finder scores are left out until you
    finish it."""

    unit_id: str
    model: str
    site: str
    kind: str
    key: str = Field(description="the neuron's index, or a probe's / direction's name, or SAE:FEATURE")
    modality: str
    n_examples: int
    stats: StatsOut
    frac_positive: float
    histogram: HistogramOut
    top: list[ExampleValue]
    bins: list[BinOut]
    players: list[LevelPlayOut]
    bots_level: int
    bots_rounds: int
    bots: list[PlayerScore]
    finders: list[FinderScoreOut] = Field(default_factory=list, description="automated finder scores, by finder")
    withheld: bool


class CustomOut(Strict):
    """A unit's activation on every token of a custom text."""

    unit_id: str
    tokens: list[str]
    activations: list[float]
    max_abs: float


class LeaderRow(Strict):
    rank: int
    player_id: str
    name: str
    kind: str
    rounds: int
    mean_score: float
    correlation: float
    points_per_round: float | None = Field(description="insight points per round, current formula")


class LeaderboardOut(Strict):
    unit_id: str
    level: int
    rows: list[LeaderRow]
    withheld: bool = Field(description="true while you have an unfinished game on this unit")


class MeOut(Strict):
    """The cookie's player; ``csrf_token`` goes in the ``X-CSRF-Token`` header of API POSTs."""

    player_id: str
    display_name: str | None
    csrf_token: str


class NameIn(Strict):
    name: str = Field(min_length=1, max_length=40)


class HistoryGame(Strict):
    game_id: str
    unit_id: str
    level: int
    feedback: bool
    practice: bool
    study_id: str | None
    rounds: int
    answered: int
    mean_score: float | None = Field(description="null for games without feedback")
    created_at: str


class PlayerOut(Strict):
    player_id: str
    name: str
    is_you: bool
    games: list[HistoryGame]
