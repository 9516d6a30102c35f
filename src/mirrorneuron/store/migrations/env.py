"""Alembic environment. :func:`mirrorneuron.store.db.migrate` hands over a connection in
``config.attributes["connection"]``; without one (``alembic`` CLI) the URL comes from ``sqlalchemy.url`` or
``MIRRORNEURON_DATABASE_URL`` / the default SQLite file."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, text

from mirrorneuron.store.db import database_url, make_engine
from mirrorneuron.store.models import Base

# Any constant works; it only has to be the same for every process migrating the same Postgres database.
PG_LOCK_KEY = 7_262_011_905

config = context.config


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_LOCK_KEY})
        context.run_migrations()


def run_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url") or database_url(),
        target_metadata=Base.metadata,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        return
    engine = make_engine(config.get_main_option("sqlalchemy.url") or None)
    try:
        with engine.begin() as conn:
            _configure(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
