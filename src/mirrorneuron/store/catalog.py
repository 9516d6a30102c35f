"""Players and the catalogue (models, units, examples). Idempotent, race-safe inserts; callers commit."""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from typing import Any, cast

from sqlalchemy import Table, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from mirrorneuron.store.errors import NotFound
from mirrorneuron.store.models import Base, Example, Model, Player, Unit

PLAYER_KINDS = ("human", "bot")
NAME_MAX = 40
CHUNK = 500


def new_id(nbytes: int = 12) -> str:
    """A random URL-safe token (``nbytes`` of entropy)."""
    return secrets.token_urlsafe(nbytes)


def get_player(s: Session, player_id: str) -> Player | None:
    return s.get(Player, player_id)


def ensure_player(s: Session, player_id: str | None, kind: str = "human") -> Player:
    """The player ``player_id``; a new one with a fresh random id when ``player_id`` is None or unknown
    (a client never chooses its own id)."""
    if kind not in PLAYER_KINDS:
        raise ValueError(f"player kind must be one of {PLAYER_KINDS}, got {kind!r}")
    if player_id:
        player = s.get(Player, player_id)
        if player is not None:
            return player
    player = Player(id=new_id(16), kind=kind)
    s.add(player)
    s.flush()
    return player


def clean_display_name(name: str) -> str:
    """``name`` stripped; ValueError unless 1–40 printable characters."""
    if not isinstance(name, str):
        raise ValueError("display name must be text")
    name = name.strip()
    if not 1 <= len(name) <= NAME_MAX:
        raise ValueError(f"display name must be 1–{NAME_MAX} characters, got {len(name)}")
    if not name.isprintable():
        raise ValueError("display name must contain only printable characters (no control characters)")
    return name


def set_display_name(s: Session, player_id: str, name: str) -> Player:
    player = s.get(Player, player_id)
    if player is None:
        raise NotFound(f"no player {player_id!r}")
    player.display_name = clean_display_name(name)
    s.flush()
    return player


def _upsert(s: Session, cls: type[Base], rows: Sequence[dict[str, Any]], update: Iterable[str] = ()) -> None:
    """INSERT ``rows``; on a primary-key conflict update the ``update`` columns (or do nothing)."""
    if not rows:
        return
    table = cast(Table, cls.__table__)
    dialect = s.get_bind().dialect.name
    cols = list(update)
    if dialect in ("sqlite", "postgresql"):
        mod = sqlite if dialect == "sqlite" else postgresql
        stmt = mod.insert(table)
        pk = [c.name for c in table.primary_key.columns]
        if cols:
            stmt = stmt.on_conflict_do_update(index_elements=pk, set_={c: stmt.excluded[c] for c in cols})
        else:
            stmt = stmt.on_conflict_do_nothing(index_elements=pk)
        for start in range(0, len(rows), CHUNK):
            s.execute(stmt, list(rows[start : start + CHUNK]))
        return
    # Other backends: look up, then insert what is missing / update what exists.
    pk_col = next(iter(table.primary_key.columns))
    by_id = {r[pk_col.name]: r for r in rows}
    existing = set(s.scalars(select(pk_col).where(pk_col.in_(list(by_id)))))
    missing = [r for k, r in by_id.items() if k not in existing]
    if missing:
        s.execute(insert(table), missing)
    for k in existing if cols else ():
        s.execute(table.update().where(pk_col == k).values({c: by_id[k][c] for c in cols}))


def ensure_model(s: Session, name: str, modality: str, checksum: str, attributes: dict[str, Any] | None = None) -> None:
    """Register model ``name`` (update modality/checksum if it was registered with other values). ``attributes``
    (training knobs and capability) replace the stored ones when given; None keeps what is stored."""
    row: dict[str, Any] = {"id": name, "modality": modality, "checksum": checksum}
    update = ["modality", "checksum"]
    if attributes is not None:
        row["attributes"] = attributes
        update.append("attributes")
    _upsert(s, Model, [row], update=update)


def ensure_unit(s: Session, unit_id: str, model: str, site: str, kind: str, index: int, stats: dict[str, Any]) -> None:
    """Register a unit of ``model`` (its stats are refreshed if it exists)."""
    row = {"id": unit_id, "model_id": model, "site": site, "kind": kind, "index": int(index), "stats": stats}
    _upsert(s, Unit, [row], update=("site", "kind", "index", "stats"))


def ensure_examples(s: Session, model: str, rows: list[dict[str, Any]]) -> None:
    """Register examples (dicts with ``id``, ``harvest_index``, ``payload``) in bulk. Examples are
    content-addressed: an id already stored is left as it is."""
    seen: dict[str, dict[str, Any]] = {}
    for r in rows:
        seen.setdefault(
            str(r["id"]),
            {"id": str(r["id"]), "model_id": model, "harvest_index": int(r["harvest_index"]), "payload": r["payload"]},
        )
    _upsert(s, Example, list(seen.values()))
