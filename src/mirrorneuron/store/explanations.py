"""Explanations of units (``explanations`` table) and the rows explanation scoring reads.

:func:`guessed_rounds` are the examples a player guessed on (the simulation is scored on exactly these);
:func:`reference_pool` the unit's other known examples with values (level-1 references shown in round payloads
and other players' rounds), never one of the player's — the explainer writes from these.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mirrorneuron.store.errors import NotFound
from mirrorneuron.store.models import Explanation, Game, Guess, Round, Unit, utcnow


@dataclass(frozen=True)
class GuessedRound:
    round_id: str
    example_index: int
    example: dict[str, Any]  # the round payload's example (tokens + target)
    actual: float
    guess: float
    scale: float


def unit_stats(s: Session, unit_id: str) -> dict[str, Any]:
    unit = s.get(Unit, unit_id)
    if unit is None:
        raise NotFound(f"no unit {unit_id!r}: play it first (mirrorneuron play) or check the id")
    return dict(unit.stats or {})


def guessed_rounds(s: Session, unit_id: str, player_id: str) -> list[GuessedRound]:
    """The player's guesses on the unit's rounds (one per example: the first guess), oldest first. Only rounds of
    games with feedback on: their answers were already revealed to the player, so scores over them reveal nothing
    new (a no-feedback study keeps its answers hidden)."""
    stmt = (
        select(Round.id, Round.example_index, Round.payload, Round.actual, Guess.value, Round.scale)
        .join(Guess, Guess.round_id == Round.id)
        .join(Game, Game.id == Round.game_id)
        .where(Round.unit_id == unit_id, Guess.player_id == player_id, Game.feedback.is_(True))
        .order_by(Guess.created_at, Guess.id)
    )
    out: dict[int, GuessedRound] = {}
    for rid, index, payload, actual, value, scale in s.execute(stmt):
        example = (payload or {}).get("example")
        if example and example.get("kind", "text") == "text" and int(index) not in out:
            out[int(index)] = GuessedRound(rid, int(index), example, float(actual), float(value), float(scale))
    return list(out.values())


def reference_pool(s: Session, unit_id: str, exclude: set[int]) -> list[tuple[dict[str, Any], float]]:
    """(example, value) of the unit's known examples whose index is not in ``exclude``, one per index."""
    seen: dict[int, tuple[dict[str, Any], float]] = {}
    rows = s.execute(select(Round.example_index, Round.payload, Round.actual).where(Round.unit_id == unit_id))
    for index, payload, actual in rows:
        for ref in (payload or {}).get("hints", {}).get("references", []):
            seen.setdefault(int(ref["index"]), (ref["example"], float(ref["value"])))
        if payload and payload.get("example"):
            seen.setdefault(int(index), (payload["example"], float(actual)))
    return [v for i, v in seen.items() if i not in exclude and v[0].get("kind", "text") == "text"]


def save_explanation(
    s: Session, unit_id: str, player_id: str | None, author: str, text: str, scores: dict[str, Any] | None = None
) -> Explanation:
    """A new explanation row (flushed, not committed)."""
    row = Explanation(
        unit_id=unit_id, player_id=player_id, author=author, text=text, scores=scores, created_at=utcnow()
    )
    s.add(row)
    s.flush()
    return row


def set_scores(s: Session, explanation_id: int, scores: dict[str, Any]) -> None:
    row = s.get(Explanation, explanation_id)
    if row is None:
        raise NotFound(f"no explanation {explanation_id}")
    row.scores = scores


def list_explanations(s: Session, unit_id: str) -> list[dict[str, Any]]:
    """The unit's explanations, newest first, as JSON-ready dicts (``scores`` is None while scoring)."""
    stmt = select(Explanation).where(Explanation.unit_id == unit_id).order_by(Explanation.id.desc())
    return [
        {
            "id": e.id,
            "unit_id": e.unit_id,
            "player_id": e.player_id,
            "author": e.author,
            "text": e.text,
            "scores": e.scores,
            "created_at": e.created_at.isoformat(),
        }
        for e in s.scalars(stmt)
    ]
