"""Store test helpers: a real Postgres (pgserver) per test session, migrated engines for SQLite and Postgres,
and small builders for units and games. Import the fixtures into a test module to use them:

    from store_fixtures import pg_server, store_engine  # noqa: F401  (pytest fixtures)
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from mirrorneuron.store import repo
from mirrorneuron.store.db import make_engine, migrate, session_factory

BACKENDS = ["sqlite", "postgres"]


_PG: dict[str, Any] = {}  # one server per test process, however many modules import the fixture


def _start_postgres() -> str:
    if "error" in _PG:
        raise RuntimeError(_PG["error"])
    if "uri" not in _PG:
        try:
            import pgserver
        except ImportError as exc:  # pragma: no cover - depends on the environment
            _PG["error"] = f"pgserver is not installed ({exc})"
            raise RuntimeError(_PG["error"]) from None
        root = tempfile.mkdtemp(prefix="mnpg")  # short path: the unix socket lives in it
        try:
            srv = pgserver.get_server(f"{root}/data", cleanup_mode="delete")
            uri = srv.get_uri()
        except Exception as exc:  # pragma: no cover - depends on the environment
            shutil.rmtree(root, ignore_errors=True)
            _PG["error"] = f"pgserver could not start ({type(exc).__name__}: {exc})"
            raise RuntimeError(_PG["error"]) from None
        _PG.update(server=srv, root=root, uri=uri.replace("postgresql://", "postgresql+psycopg://", 1))
    return str(_PG["uri"])


def _stop_postgres() -> None:
    srv, root = _PG.pop("server", None), _PG.pop("root", None)
    _PG.pop("uri", None)
    if srv is not None:
        srv.cleanup()
    if root is not None:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """A throwaway PostgreSQL server (pgserver wheel) for the test session; yields its psycopg URL and stops
    it at the end. Skips, printing the reason (see ``-rs``), only if the server truly cannot start here."""
    try:
        uri = _start_postgres()
    except RuntimeError as exc:
        if os.environ.get("CI"):  # CI must really test Postgres
            pytest.fail(f"Postgres could not start in CI: {exc}")
        pytest.skip(f"Postgres tests skipped: {exc}")
    try:
        yield uri
    finally:
        _stop_postgres()


def fresh_postgres_database(server_url: str) -> str:
    """Create an empty database on the test server and return its URL."""
    name = f"mn_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    base, _, query = server_url.partition("?")
    return f"{base.rsplit('/', 1)[0]}/{name}" + (f"?{query}" if query else "")


@pytest.fixture(scope="module", params=BACKENDS)
def store_engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """A migrated engine on an empty database: a SQLite file, or a fresh database on the Postgres server."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('store') / 'store.db'}"
    else:
        url = fresh_postgres_database(request.getfixturevalue("pg_server"))
    engine = make_engine(url)
    migrate(engine)
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def sessions(store_engine: Engine) -> sessionmaker[Session]:
    return session_factory(store_engine)


def uid() -> str:
    return uuid.uuid4().hex[:10]


def seed_unit(s: Session, n_examples: int = 6, scale: float = 2.0) -> tuple[str, list[str]]:
    """A fresh model with one unit and ``n_examples`` examples; returns (unit id, example ids)."""
    model = f"m-{uid()}"
    unit_id = f"{model}/blocks.0.mlp.post/neuron/3"
    repo.ensure_model(s, model, "text", "abc123")
    repo.ensure_unit(s, unit_id, model, "blocks.0.mlp.post", "neuron", 3, {"scale": scale, "q": [0.0, 1.0]})
    examples = [
        {"id": f"{model}-ex{i}", "harvest_index": i, "payload": {"tokens": ["a", "b"], "target": 1}}
        for i in range(n_examples)
    ]
    repo.ensure_examples(s, model, examples)
    return unit_id, [e["id"] for e in examples]


def round_dicts(example_ids: list[str], actuals: list[float], scale: float = 2.0) -> list[dict[str, Any]]:
    return [
        {
            "seq": i,
            "example_id": example_ids[i],
            "example_index": i,
            "source": "random",
            "weight": 1.0,
            "scale": scale,
            "payload": {"example": {"tokens": ["a", "b"], "target": 1}, "hints": {}},
            "actual": a,
        }
        for i, a in enumerate(actuals)
    ]


def new_game(
    s: Session,
    actuals: list[float],
    player_id: str | None = None,
    unit: tuple[str, list[str]] | None = None,
    **kwargs: Any,
) -> repo.Game:
    """A committed game with rounds whose true values are ``actuals`` (scale 2)."""
    player = repo.ensure_player(s, player_id)
    unit_id, examples = unit or seed_unit(s, n_examples=len(actuals))
    kwargs.setdefault("level", 0)
    game = repo.create_game(
        s, player.id, unit_id, feedback=True, seed=0, rounds=round_dicts(examples, actuals), **kwargs
    )
    s.commit()
    return game
