"""Games, rounds, guesses and reveals."""

from __future__ import annotations

from pydantic import Field, field_validator

from mirrorneuron.gameplay.serving import POLICIES, check_policy
from mirrorneuron.web.schemas.common import ExampleOut, HintsOut, LevelOut, Strict


class NewGame(Strict):
    """Start a game. ``unit`` is a unit id (``MODEL/SITE/neuron/I``, or ``SITE/I`` with ``model``); leave it
    out for a surprise unit of ``model`` (default: the default text model), chosen by ``policy``."""

    model: str | None = Field(None, min_length=1, max_length=200)
    unit: str | None = Field(None, max_length=400)
    level: int = Field(1, ge=0, le=3)
    rounds: int = Field(10, ge=1, le=100)
    feedback: bool = True
    seed: int | None = Field(None, ge=0, le=2**31 - 1)
    policy: str | None = Field(
        default=None,
        max_length=64,
        description=f"how a surprise unit is chosen: {', '.join(POLICIES)} (default matched)",
    )

    @field_validator("policy")
    @classmethod
    def _known_policy(cls, v: str | None) -> str | None:
        return None if v is None else check_policy(v)


class RoundPayloadOut(Strict):
    """The part of a round that its stored payload holds, as served."""

    unit_id: str
    level: int
    multiplier: float
    scale: float
    example: ExampleOut
    hints: HintsOut


class StoredRoundPayload(RoundPayloadOut):
    """A stored payload (``game.Round.to_dict``): every one is validated against this on each fetch, so a
    payload with any field beyond it (an answer riding along) is refused, never served. ``round_id`` and
    ``seq`` are the game's own copies; the response carries the stored round's instead."""

    round_id: str | None = None
    seq: int | None = None


class RoundOut(RoundPayloadOut):
    """One question. ``token`` must come back with the guess. Never holds the true value."""

    round_id: str
    game_id: str
    token: str
    seq: int
    n_rounds: int


class NextRoundOut(Strict):
    game_id: str
    done: bool
    n_answered: int
    n_rounds: int
    round: RoundOut | None


class GuessIn(Strict):
    token: str = Field(min_length=1, max_length=64, description="the round's token from the round fetch")
    value: float = Field(allow_inf_nan=False, description="your guess of the unit's activation")
    seconds: float | None = Field(None, ge=0, le=10**6, allow_inf_nan=False, description="time taken")


class GuessOut(Strict):
    """The guess is stored. With feedback on: the truth, the closeness score and the insight points; off: nulls."""

    round_id: str
    game_id: str
    seq: int
    guess: float
    feedback: bool
    actual: float | None
    score: float | None = Field(description="closeness round score (DESIGN §6), 0–100")
    points: float | None = Field(description="insight points: how much better than the unit mean, × level")
    max_points: float | None = Field(None, description="the points a perfect guess earns on this round")
    n_answered: int
    n_rounds: int
    done: bool


class ShadedWindow(Strict):
    """The example's tokens and this unit's activation on each of them (after the reveal)."""

    tokens: list[str]
    activations: list[float]
    target: int


class RevealOut(Strict):
    round_id: str
    seq: int
    guess: float
    actual: float
    score: float = Field(description="closeness round score (DESIGN §6), 0–100")
    points: float | None = Field(description="insight points (null on guesses stored before they existed)")
    max_points: float | None = Field(None, description="the points a perfect guess earns on this round")
    window: ShadedWindow | None


class ResultOut(Strict):
    """An answered round of a game (``actual``/``score``/``points``/``max_points`` null when feedback is off)."""

    round_id: str
    seq: int
    guess: float
    actual: float | None
    score: float | None = Field(description="closeness round score (DESIGN §6), 0–100")
    points: float | None = Field(description="insight points: how much better than the unit mean, × level")
    max_points: float | None = Field(None, description="the points a perfect guess earns on this round")
    seconds: float | None


class PlayerScore(Strict):
    """DESIGN.md §6 scores of one player (human or bot) on a set of rounds."""

    name: str
    n: int
    mean_score: float | None = Field(description="mean closeness round score")
    points: float = Field(description="insight points earned")
    max_points: float = Field(description="the insight points perfect guesses would have earned")
    points_version: str = Field(description="the points formula's version")
    correlation: float
    correlation_flag: str | None
    r2: float
    abs_dev_explained: float
    weighted_correlation: float | None
    curve: list[float] = Field(description="running mean of the round score")


class SummaryOut(Strict):
    """End of game. Empty scores when feedback is off: nothing derived from the truth is served."""

    n_rounds: int
    n_answered: int
    feedback: bool
    you: PlayerScore | None
    bots: list[PlayerScore]


class GameOut(Strict):
    game_id: str
    unit_id: str
    model: str
    modality: str
    level: LevelOut
    feedback: bool
    practice: bool
    study_id: str | None
    n_rounds: int
    n_answered: int
    done: bool
    total_points: float | None
    results: list[ResultOut]
    summary: SummaryOut | None
    next_game_id: str | None = Field(None, description="in a study: the next game to play")
