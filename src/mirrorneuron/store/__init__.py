"""The gameplay store: SQLAlchemy 2.0 models, repository functions and alembic migrations.

Below the web layer: imports only ``mirrorneuron.config`` (for the default database path). Use
:mod:`mirrorneuron.store.db` for engines/migrations, :mod:`mirrorneuron.store.repo` for everything else.
"""
