"""Unit locks: while a study is open (``studies.closed_at`` is NULL) its units' values are served to nobody,
except the reveal of a round the requesting player has answered.

Plain queries, no process cache: a lock must hold the moment a study is created and lift the moment it is
closed, in every worker.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mirrorneuron.store.errors import Forbidden
from mirrorneuron.store.models import Study


def _units(config: dict[str, Any]) -> list[str]:
    units = config.get("units", [])
    return [u for u in units if isinstance(u, str)] if isinstance(units, list) else []


def locked_units(s: Session) -> dict[str, str]:
    """Unit id → id of an open study holding it (the oldest, when several do). One query."""
    rows = s.execute(select(Study.id, Study.config).where(Study.closed_at.is_(None)).order_by(Study.created_at.desc()))
    return {unit: study_id for study_id, config in rows for unit in _units(config)}


def locking_study(s: Session, unit_id: str) -> str | None:
    """The id of an open study holding ``unit_id`` (a full unit id), or None when the unit is not locked."""
    return locked_units(s).get(unit_id)


def lock_reason(unit_id: str, study_id: str) -> str:
    """The one-line reason a locked unit's values are refused (the 403 ``detail``)."""
    return (
        f"unit {unit_id} is locked while study {study_id} is open: "
        "its values are served only as reveals of rounds you answered"
    )


def ensure_unlocked(s: Session, unit_id: str) -> None:
    """Raise :class:`Forbidden` (HTTP 403, the reason as detail) while an open study holds ``unit_id``."""
    study_id = locking_study(s, unit_id)
    if study_id is not None:
        raise Forbidden(lock_reason(unit_id, study_id))
