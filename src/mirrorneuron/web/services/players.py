"""Small reads about the viewer used by several pages, and a player's progression (mastery, unlocks, curves)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from mirrorneuron.store import progress as pr
from mirrorneuron.store import repo
from mirrorneuron.web.schemas.progress import LevelProgressOut, ProgressOut, RulesOut, UnitProgressOut

MAX_LEVEL = 3


def has_open_game(s: Session, player_id: str | None, unit_id: str) -> bool:
    """Whether the player has an unfinished game on the unit (then spoilers are withheld from them)."""
    if not player_id:
        return False
    return any(g["unit_id"] == unit_id and g["answered"] < g["rounds"] for g in repo.player_history(s, player_id))


def rules_out(enforced: bool) -> RulesOut:
    return RulesOut(
        mastery_window=pr.MASTERY_WINDOW,
        mastery_correlation=pr.MASTERY_CORRELATION,
        unlock_after_rounds=pr.UNLOCK_AFTER_ROUNDS,
        open_levels=list(pr.OPEN_LEVELS),
        first_family=pr.FIRST_FAMILY,
        enforced=enforced,
    )


def progress_view(s: Session, player_id: str, enforced: bool) -> ProgressOut:
    """The player's progression: mastered (unit, level) pairs first, then the rest by progress to mastery."""
    progress = pr.player_progress(s, player_id)
    units: dict[str, list[LevelProgressOut]] = {}
    for (unit_id, level), p in sorted(progress.items()):
        nxt = None if level >= MAX_LEVEL else pr.lock_reason(progress, unit_id, level + 1) is None
        units.setdefault(unit_id, []).append(
            LevelProgressOut(
                level=level,
                rounds=p.rounds,
                correlation=p.correlation,
                mastered=p.mastered,
                mastered_at_round=p.mastered_at_round,
                to_mastery=p.to_mastery,
                next_level_unlocked=nxt,
                scores=p.scores,
                points=p.points,
            )
        )
    order = sorted(units, key=lambda u: (-max(lv.to_mastery for lv in units[u]), u))
    return ProgressOut(
        player_id=player_id,
        rules=rules_out(enforced),
        mastered=[f"{u} · level {lv}" for (u, lv), p in sorted(progress.items()) if p.mastered],
        families_unlocked=any(p.mastered for p in progress.values()),
        units=[UnitProgressOut(unit_id=u, levels=units[u]) for u in order],
    )
