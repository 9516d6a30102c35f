"""Finder scores per unit (``unit_scores``): one row per (unit, finder), replaced when the finder runs again."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pandas as pd
from sqlalchemy import Table, and_, case, delete, func, insert, select
from sqlalchemy.orm import Session, aliased

from mirrorneuron.store.models import Unit, UnitScore, utcnow

CHUNK = 500


def _clean(score: float | None) -> float | None:
    return None if score is None or not math.isfinite(float(score)) else float(score)


def save_scores(s: Session, finder: str, version: str, scores: Mapping[str, float | None]) -> int:
    """Store ``finder``'s score of each unit (``{unit_id: score}``; NaN/None stored as NULL), replacing any
    earlier score of the same units by that finder. The units must be registered. Callers commit."""
    ids = list(scores)
    table: Table = UnitScore.__table__  # type: ignore[assignment]
    now = utcnow()
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        s.execute(delete(UnitScore).where(UnitScore.finder == finder, UnitScore.unit_id.in_(chunk)))
        rows = [
            {"unit_id": u, "finder": finder, "finder_version": version, "score": _clean(scores[u]), "created_at": now}
            for u in chunk
        ]
        s.execute(insert(table), rows)
    return len(ids)


def unit_scores(s: Session, unit_id: str) -> list[dict[str, Any]]:
    """Every finder's score of ``unit_id`` with its percentile among the scored units of the same model
    (share of them scoring below, ties counted half, in percent; None for a NULL score). By finder name."""
    mine, other = aliased(UnitScore), aliased(UnitScore)
    unit = s.get(Unit, unit_id)
    if unit is None:
        return []
    below = func.sum(case((other.score < mine.score, 1.0), (other.score == mine.score, 0.5), else_=0.0))
    q = (
        select(mine.finder, mine.finder_version, mine.score, below, func.count(other.score))
        .join(other, other.finder == mine.finder)
        .join(Unit, and_(Unit.id == other.unit_id, Unit.model_id == unit.model_id))
        .where(mine.unit_id == unit_id)
        .group_by(mine.finder, mine.finder_version, mine.score)
        .order_by(mine.finder)
    )
    out = []
    for finder, version, score, n_below, n in s.execute(q):
        pct = None if score is None or not n else 100.0 * float(n_below) / int(n)
        out.append({"finder": finder, "version": version, "score": score, "percentile": pct, "n_units": int(n)})
    return out


def scores_frame(s: Session, model_id: str | None = None) -> pd.DataFrame:
    """All stored scores (of ``model_id``'s units if given): one row per (unit, finder) with the unit's
    model, site and index."""
    q = select(
        UnitScore.unit_id, Unit.model_id.label("model"), Unit.site, Unit.index, UnitScore.finder,
        UnitScore.finder_version, UnitScore.score,
    ).join(Unit, Unit.id == UnitScore.unit_id)  # fmt: skip
    if model_id is not None:
        q = q.where(Unit.model_id == model_id)
    rows = s.execute(q.order_by(UnitScore.unit_id, UnitScore.finder)).all()
    cols = ["unit_id", "model", "site", "index", "finder", "finder_version", "score"]
    return pd.DataFrame([tuple(r) for r in rows], columns=cols).astype({"score": "float64"})
