"""Studies: the researcher's view (progress, links) and the participant's view (the invitation)."""

from __future__ import annotations

from mirrorneuron.store.repo import StudyConfig
from mirrorneuron.web.schemas.common import Strict


class CellOut(Strict):
    unit_id: str
    level: int
    guesses: int
    players: int
    mean_score: float | None


class ProgressOut(Strict):
    players: int
    games_started: int
    games_finished: int
    practice_games: int
    guesses: int
    target_guesses_per_player: int
    cells: list[CellOut]


class StudyOut(Strict):
    """The owner's view of a study: its config, shareable link, progress and export links."""

    study_id: str
    name: str
    share_url: str
    export_parquet_url: str
    export_csv_url: str
    config: StudyConfig
    progress: ProgressOut


class StudyGameOut(Strict):
    game_id: str
    unit_id: str
    level: int
    practice: bool
    rounds: int
    answered: int


class InviteOut(Strict):
    """What a participant sees at the shared link: the study's shape and their own games in it."""

    study_id: str
    name: str
    feedback: bool
    n_units: int
    levels: list[int]
    rounds_per_unit: int
    practice_rounds: int
    joined: bool
    games: list[StudyGameOut]
    next_game_id: str | None


class ClosedOut(Strict):
    """A closed study: its units are unlocked (unit pages, custom text, leaderboards serve them again)."""

    study_id: str
    closed_at: str  # ISO 8601, UTC
    unlocked_units: list[str]
