"""Plays from this machine's command line (terminal game, ``bots run``) go to the same gameplay store as the
web game: ``$MIRRORNEURON_DATABASE_URL``, else the SQLite file in ``$MIRRORNEURON_HOME``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session

from mirrorneuron.config import settings
from mirrorneuron.store import repo
from mirrorneuron.store.db import make_engine, migrate, session_factory

PLAYER_FILE = "terminal-player"


@contextmanager
def local_store() -> Iterator[Session]:
    """A session on the gameplay store, migrated to the newest schema."""
    engine = make_engine()
    try:
        migrate(engine)
        with session_factory(engine)() as s:
            yield s
    finally:
        engine.dispose()


def terminal_player(s: Session) -> str:
    """The id of this home's terminal player (made on first use and kept in ``$MIRRORNEURON_HOME``), so
    every terminal game of one person shares a history: nothing they were shown is asked again."""
    path = settings().home / PLAYER_FILE
    known = path.read_text().strip() if path.exists() else None
    player = repo.ensure_player(s, known or None)
    if player.id != known:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(player.id + "\n")
    s.commit()
    return player.id
