"""The tutorial in the store: its games are ordinary games whose ``policy`` is :data:`TUTORIAL_POLICY`, and a
player who finished or skipped it has ``players.tutorial_done_at`` set."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mirrorneuron.store.catalog import ensure_player
from mirrorneuron.store.models import Game, Guess, Player, Round, utcnow

TUTORIAL_POLICY = "tutorial"  # Game.policy of a tutorial game: the unit was chosen by the tutorial's rule


def tutorial_done_at(s: Session, player_id: str) -> datetime | None:
    player = s.get(Player, player_id)
    return None if player is None else player.tutorial_done_at


def mark_tutorial_done(s: Session, player_id: str) -> datetime:
    """Remember that the player finished or skipped the tutorial (the first time counts). The caller commits."""
    player = ensure_player(s, player_id)
    if player.tutorial_done_at is None:
        player.tutorial_done_at = utcnow()
        s.flush()
    return player.tutorial_done_at


def open_tutorial_game(s: Session, player_id: str) -> str | None:
    """The player's newest tutorial game that still has unanswered rounds (to resume), or None."""
    answered = (
        select(func.count(Guess.id))
        .join(Round, Round.id == Guess.round_id)
        .where(Round.game_id == Game.id, Guess.player_id == Game.player_id)
        .scalar_subquery()
    )
    total = select(func.count(Round.id)).where(Round.game_id == Game.id).scalar_subquery()
    stmt = (
        select(Game.id)
        .where(Game.player_id == player_id, Game.policy == TUTORIAL_POLICY, answered < total)
        .order_by(Game.created_at.desc(), Game.id)
        .limit(1)
    )
    return s.scalar(stmt)


def is_tutorial_game(s: Session, game_id: str, player_id: str) -> bool:
    game = s.get(Game, game_id)
    return game is not None and game.player_id == player_id and game.policy == TUTORIAL_POLICY
