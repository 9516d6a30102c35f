"""The daily unit, share links and the points boards. Totals of finished games only: no per-round value."""

from __future__ import annotations

from pydantic import Field

from mirrorneuron.web.schemas.common import LevelOut, Strict


class GameTotal(Strict):
    """One finished game's totals (a row of the daily board, or the shared game)."""

    rank: int | None = None
    player_id: str
    name: str
    rounds: int
    points: float = Field(description="insight points (current formula)")
    mean_score: float = Field(description="mean closeness round score, 0–100")


class BotTotal(Strict):
    name: str
    rounds: int
    points: float
    mean_score: float


class DailyOut(Strict):
    """Today's daily unit (UTC): the same unit and rounds for everyone, one game per player."""

    day: str
    unit_id: str
    model: str
    level: LevelOut
    n_rounds: int
    points_version: str
    your_game_id: str | None = Field(description="your daily game of the day, if you started it")
    your_done: bool
    share_url: str | None = Field(description="the share link of your finished daily game")
    board: list[GameTotal] = Field(description="the day's finished daily games, ranked by insight points")
    withheld: bool = Field(description="true while you have an unfinished game on the unit")


class ShareLinkOut(Strict):
    token: str
    url: str


class Distribution(Strict):
    """How the other players' finished games on the same rounds (daily) or unit and level did."""

    n: int
    points: list[float] = Field(description="each other game's insight points per round, ascending")
    mean_scores: list[float] = Field(description="each other game's mean closeness, ascending")
    beaten_points: float | None = Field(description="share of the others with fewer points per round")
    beaten_closeness: float | None = Field(description="share of the others with a lower mean closeness")


class ShareOut(Strict):
    """A finished game as shared: totals only, never a round's example, guess or truth."""

    unit_id: str
    level: LevelOut
    daily: str | None = Field(description="the day, for a daily game")
    points_version: str
    player: GameTotal
    max_points: float
    others: Distribution | None = Field(description="null while you have an unfinished game on the unit")
    bots: list[BotTotal]
    withheld: bool


class LevelRow(Strict):
    rank: int
    player_id: str
    name: str
    games: int
    rounds: int
    points: float
    points_per_round: float
    mean_score: float


class LevelBoardOut(Strict):
    level: LevelOut
    points_version: str = Field(description="the insight points formula the board counts")
    rows: list[LevelRow]
