"""Imitations: versioned rules per player + unit (``source`` as typed, ``rule`` parsed, ``scores`` held-out).

Versions count 1, 2, … per (player, unit). The caller commits.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mirrorneuron.store.models import Game, Guess, Imitation, Round


def save_imitation(
    s: Session, player_id: str, unit_id: str, source: str, rule: dict[str, Any], scores: dict[str, Any] | None = None
) -> Imitation:
    """A new version of ``player_id``'s imitation of ``unit_id`` (previous version + 1). Flushes."""
    last = s.scalar(
        select(func.max(Imitation.version)).where(Imitation.player_id == player_id, Imitation.unit_id == unit_id)
    )
    row = Imitation(
        player_id=player_id, unit_id=unit_id, source=source, rule=rule, scores=scores, version=int(last or 0) + 1
    )
    s.add(row)
    s.flush()
    return row


def versions(s: Session, unit_id: str, player_id: str | None = None) -> list[Imitation]:
    """Every version of the imitations of ``unit_id`` (of one player, or of all), oldest first per player."""
    stmt = select(Imitation).where(Imitation.unit_id == unit_id)
    if player_id is not None:
        stmt = stmt.where(Imitation.player_id == player_id)
    return list(s.scalars(stmt.order_by(Imitation.player_id, Imitation.version)))


def latest(s: Session, player_id: str, unit_id: str) -> Imitation | None:
    """The player's newest version for ``unit_id``, or None."""
    stmt = (
        select(Imitation)
        .where(Imitation.player_id == player_id, Imitation.unit_id == unit_id)
        .order_by(Imitation.version.desc())
        .limit(1)
    )
    return s.scalars(stmt).first()


def latest_per_unit(s: Session, player_id: str) -> dict[str, Imitation]:
    """The player's newest version of every unit they imitated: unit id → row."""
    newest = (
        select(Imitation.unit_id, func.max(Imitation.version).label("v"))
        .where(Imitation.player_id == player_id)
        .group_by(Imitation.unit_id)
        .subquery()
    )
    stmt = select(Imitation).join(
        newest, (Imitation.unit_id == newest.c.unit_id) & (Imitation.version == newest.c.v)
    ).where(Imitation.player_id == player_id)
    return {row.unit_id: row for row in s.scalars(stmt)}


def player_plays(s: Session, player_id: str, unit_id: str) -> list[tuple[int, float, float, float]]:
    """``(example index, actual, guess, scale)`` of every round of ``unit_id`` the player answered."""
    stmt = (
        select(Round.example_index, Round.actual, Guess.value, Round.scale)
        .join(Guess, Guess.round_id == Round.id)
        .join(Game, Game.id == Round.game_id)
        .where(Guess.player_id == player_id, Round.unit_id == unit_id, Game.player_id == player_id)
        .order_by(Round.created_at, Round.seq)
    )
    return [(int(i), float(a), float(g), float(c)) for i, a, g, c in s.execute(stmt)]
