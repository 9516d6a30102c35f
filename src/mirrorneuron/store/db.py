"""Engines, sessions and migrations.

SQLite (the default, a file under ``settings().home``) runs in WAL mode with ``synchronous=NORMAL``,
``busy_timeout=10000`` and foreign keys on, set on every new connection. Postgres when
``MIRRORNEURON_DATABASE_URL`` says so (``postgresql+psycopg://…``; a bare ``postgresql://`` gets psycopg 3).
Call :func:`migrate` once before web workers start: it runs alembic ``upgrade head`` and is a no-op when the
schema is current.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from mirrorneuron.config import settings

ENV_VAR = "MIRRORNEURON_DATABASE_URL"
MIGRATIONS_DIR = Path(__file__).parent / "migrations"
SQLITE_PRAGMAS = ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=10000", "foreign_keys=ON")


def database_url() -> str:
    """``MIRRORNEURON_DATABASE_URL`` if set, else a SQLite file in the home directory (created if missing)."""
    url = os.environ.get(ENV_VAR, "").strip()
    if url:
        return url
    home = settings().home
    home.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{home / 'mirrorneuron.db'}"


def _normalise(url: str) -> str:
    """``postgres://`` / ``postgresql://`` (no driver) → ``postgresql+psycopg://`` (psycopg 3 is what we ship)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        for pragma in SQLITE_PRAGMAS:
            cursor.execute(f"PRAGMA {pragma}")
    finally:
        cursor.close()


def make_engine(url: str | None = None, **engine_kwargs: Any) -> Engine:
    """An engine for ``url`` (default :func:`database_url`). Extra keyword arguments go to ``create_engine``."""
    url = _normalise(url or database_url())
    parsed = make_url(url)
    engine_kwargs.setdefault("pool_pre_ping", True)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    if parsed.get_backend_name() != "sqlite":  # a web worker's 16 database threads each hold a connection
        engine_kwargs.setdefault("pool_size", 16)
        engine_kwargs.setdefault("max_overflow", 4)
    engine = create_engine(url, **engine_kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def alembic_config() -> Config:
    """An alembic config pointing at the migrations shipped inside the package (no alembic.ini needed)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    return cfg


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision (alembic ``upgrade head``); a no-op when already there.

    On Postgres the upgrade holds an advisory lock, so concurrent callers wait instead of racing. On SQLite
    call it from one process before starting workers.
    """
    cfg = alembic_config()
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "head")


def head_revision() -> str | None:
    """The newest revision the shipped migrations define."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def migrate_if_behind(engine: Engine) -> bool:
    """:func:`migrate` unless the schema is already at the newest revision (then one read, no upgrade and no
    lock: what each web worker calls once ``serve`` has migrated before starting them). True if it migrated."""
    if current_revision(engine) == head_revision():
        return False
    migrate(engine)
    return True


def current_revision(engine: Engine) -> str | None:
    """The schema revision the database is at (None before the first :func:`migrate`)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions bound to ``engine``; objects stay readable after commit (``expire_on_commit=False``)."""
    return sessionmaker(bind=engine, expire_on_commit=False)
