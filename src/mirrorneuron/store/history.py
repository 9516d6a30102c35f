"""What a player has been shown (to never ask it again), bot players, and plays recorded without a token.

:func:`shown_rounds` lists every round of the player's games on a model, answered or not: the hints of a
round (level-2 neighbours, level-3 inputs) were shown before the guess. Bot plays go through
:func:`record_guesses`, which scores with ``play.guess_scores`` like :func:`~mirrorneuron.store.play.submit_guess`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from sqlalchemy import Table, insert, select
from sqlalchemy.orm import Session

from mirrorneuron.store.models import Game, Guess, Player, Round, Unit, utcnow
from mirrorneuron.store.play import guess_scores

_guesses = cast(Table, Guess.__table__)


def shown_rounds(s: Session, player_id: str | None, model: str) -> list[tuple[str, int, int]]:
    """(unit id, level, example index) of every round in ``player_id``'s games on ``model``."""
    if not player_id:
        return []
    stmt = (
        select(Round.unit_id, Round.level, Round.example_index)
        .join(Game, Game.id == Round.game_id)
        .join(Unit, Unit.id == Round.unit_id)
        .where(Game.player_id == player_id, Unit.model_id == model)
    )
    return [(u, int(lv), int(i)) for u, lv, i in s.execute(stmt)]


def bot_player_id(name: str, version: str) -> str:
    return f"bot-{name}-v{version}"[:64]


def ensure_bot(s: Session, name: str, version: str) -> Player:
    """The player row of bot ``name`` at ``version`` (one per bot version, so plays of versions stay apart)."""
    player_id = bot_player_id(name, version)
    player = s.get(Player, player_id)
    if player is None:
        label = f"{name} bot v{version}"[:40]
        player = Player(
            id=player_id, display_name=label, kind="bot", bot_name=name[:40], bot_version=version[:40], created_at=utcnow()
        )
        s.add(player)
        s.flush()
    return player


def record_guesses(s: Session, player_id: str, plays: Sequence[tuple[str, float, float | None]]) -> int:
    """Store ``(round id, guess, seconds)`` plays of a player who needs no round token (a bot, or the
    terminal's own player in its own game); rounds already guessed by that player are left as they were.
    Returns how many were stored. The caller commits."""
    if not plays:
        return 0
    ids = [r for r, _, _ in plays]
    rounds = {r.id: r for r in s.scalars(select(Round).where(Round.id.in_(ids)))}
    done = set(s.scalars(select(Guess.round_id).where(Guess.player_id == player_id, Guess.round_id.in_(ids))))
    rows = [
        {
            "player_id": player_id,
            "round_id": rid,
            "value": float(value),
            **guess_scores(rounds[rid], float(value)),
            "seconds": seconds,
            "created_at": utcnow(),
        }
        for rid, value, seconds in plays
        if rid in rounds and rid not in done
    ]
    if rows:
        s.execute(insert(_guesses), rows)
    return len(rows)
