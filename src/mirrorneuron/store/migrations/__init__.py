"""Alembic migrations of the gameplay store (run through :func:`mirrorneuron.store.db.migrate`)."""
