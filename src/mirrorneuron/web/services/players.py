"""Small reads about the viewer used by several pages."""

from __future__ import annotations

from sqlalchemy.orm import Session

from mirrorneuron.store import repo


def has_open_game(s: Session, player_id: str | None, unit_id: str) -> bool:
    """Whether the player has an unfinished game on the unit (then spoilers are withheld from them)."""
    if not player_id:
        return False
    return any(g["unit_id"] == unit_id and g["answered"] < g["rounds"] for g in repo.player_history(s, player_id))
