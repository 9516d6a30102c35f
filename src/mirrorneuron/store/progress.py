"""Progression: per-unit mastery per level, and which levels and unit families a player has unlocked.

The rules (every constant is here):

- **mastery** of (unit, level): some run of :data:`MASTERY_WINDOW` consecutive answered rounds of the player at
  that level reached a pooled Pearson correlation (DESIGN §6, :func:`game.scoring.summarize`) of at least
  :data:`MASTERY_CORRELATION`. Once reached it is kept. Only feedback games count: a player learns from
  reveals, and a correlation moving after each no-feedback guess would tell what the game withholds.
- **levels**: levels in :data:`OPEN_LEVELS` are open on every unit; level L+1 of a unit unlocks once level L
  of that unit is mastered or after :data:`UNLOCK_AFTER_ROUNDS` answered rounds at level L.
- **families** are unit kinds: :data:`FIRST_FAMILY` units are open to everyone; every other kind (probes,
  SAE features, directions) unlocks after the player's first mastery of any unit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from mirrorneuron.game.scoring import summarize
from mirrorneuron.store.errors import Forbidden
from mirrorneuron.store.models import Game, Guess, Round
from mirrorneuron.types import UnitRef

MASTERY_WINDOW = 20
MASTERY_CORRELATION = 0.8
UNLOCK_AFTER_ROUNDS = 30
OPEN_LEVELS = (0, 1)
FIRST_FAMILY = "neuron"


class LevelLocked(Forbidden):
    """Starting a game at a level (or on a unit family) the player has not unlocked (HTTP 403)."""


@dataclass(frozen=True)
class Play:
    """One answered round of a player, in play order."""

    unit_id: str
    level: int
    actual: float
    guess: float
    score: float
    points: float | None
    at: datetime


@dataclass
class LevelProgress:
    unit_id: str
    level: int
    rounds: int = 0
    correlation: float | None = None  # over the last MASTERY_WINDOW rounds (None until there are two)
    mastered: bool = False
    mastered_at_round: int | None = None  # 1-based round count when mastery was first reached
    scores: list[float] = field(default_factory=list)  # closeness per round, play order
    points: list[float] = field(default_factory=list)  # insight points per round (0 where none were stored)

    @property
    def to_mastery(self) -> float:
        """0–1: the share of the window played × how close its correlation is to the threshold (1 = mastered)."""
        if self.mastered:
            return 1.0
        filled = min(self.rounds, MASTERY_WINDOW) / MASTERY_WINDOW
        corr = max(0.0, min(1.0, (self.correlation or 0.0) / MASTERY_CORRELATION))
        return filled * corr


def window_correlation(actual: list[float], guesses: list[float]) -> float:
    """Pooled Pearson correlation of one window (0 for a constant window, as :func:`summarize` flags it)."""
    return summarize(actual, guesses).correlation


def level_progress(unit_id: str, level: int, plays: list[Play]) -> LevelProgress:
    """Progress of one (unit, level) from its plays in play order."""
    out = LevelProgress(unit_id, level, rounds=len(plays))
    a, g = [p.actual for p in plays], [p.guess for p in plays]
    for end in range(MASTERY_WINDOW, len(plays) + 1):
        if window_correlation(a[end - MASTERY_WINDOW : end], g[end - MASTERY_WINDOW : end]) >= MASTERY_CORRELATION:
            out.mastered, out.mastered_at_round = True, end
            break
    if len(plays) >= 2:
        out.correlation = window_correlation(a[-MASTERY_WINDOW:], g[-MASTERY_WINDOW:])
    out.scores = [p.score for p in plays]
    out.points = [p.points or 0.0 for p in plays]
    return out


def player_plays(s: Session, player_id: str) -> list[Play]:
    """The player's own answered rounds of feedback games, in the order they were answered."""
    stmt = (
        select(Round.unit_id, Round.level, Round.actual, Guess.value, Guess.score, Guess.points, Guess.created_at)
        .join(Guess, Guess.round_id == Round.id)
        .join(Game, Game.id == Round.game_id)
        .where(Guess.player_id == player_id, Game.player_id == player_id, Game.feedback.is_(True))
        .order_by(Guess.created_at, Guess.id)
    )
    return [Play(u, int(lv), float(a), float(v), float(sc), pt, at) for u, lv, a, v, sc, pt, at in s.execute(stmt)]


def progress_of(plays: list[Play]) -> dict[tuple[str, int], LevelProgress]:
    """(unit id, level) → progress, for every pair the player has played."""
    by: dict[tuple[str, int], list[Play]] = {}
    for p in plays:
        by.setdefault((p.unit_id, p.level), []).append(p)
    return {key: level_progress(*key, ps) for key, ps in by.items()}


def player_progress(s: Session, player_id: str) -> dict[tuple[str, int], LevelProgress]:
    return progress_of(player_plays(s, player_id))


def lock_reason(progress: dict[tuple[str, int], LevelProgress], unit_id: str, level: int) -> str | None:
    """Why ``level`` of ``unit_id`` is still locked for the player with ``progress`` (None: it is open)."""
    kind = UnitRef.parse(unit_id).kind
    if kind != FIRST_FAMILY and not any(p.mastered for p in progress.values()):
        return (
            f"{kind} units unlock after your first mastery (correlation ≥ {MASTERY_CORRELATION} over "
            f"{MASTERY_WINDOW} rounds of one unit at one level); play {FIRST_FAMILY} units first"
        )
    if level in OPEN_LEVELS:
        return None
    prev = progress.get((unit_id, level - 1))
    done = 0 if prev is None else prev.rounds
    if prev is not None and (prev.mastered or prev.rounds >= UNLOCK_AFTER_ROUNDS):
        return None
    return (
        f"level {level} of {unit_id} is locked: master level {level - 1} of it (correlation ≥ "
        f"{MASTERY_CORRELATION} over {MASTERY_WINDOW} rounds) or play {UNLOCK_AFTER_ROUNDS} rounds at level "
        f"{level - 1} (you have {done})"
    )


def ensure_level_open(s: Session, player_id: str, unit_id: str, level: int) -> None:
    """Raise :class:`LevelLocked` (403, the reason as detail) unless the player has unlocked the level."""
    reason = lock_reason(player_progress(s, player_id), unit_id, level)
    if reason is not None:
        raise LevelLocked(reason)
