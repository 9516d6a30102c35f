"""Database calls never block the event loop: while one request waits on a held SQLite write lock (up to the
10 s busy timeout), a request that needs no database (``/api/health``) still answers at once."""

from __future__ import annotations

import asyncio
import concurrent.futures
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from mirrorneuron.web import create_app
from mirrorneuron.web.db import Db
from mirrorneuron.web.settings import WebSettings

HOLD_S = 2.0  # how long the lock is held


@pytest.fixture
def app_and_db(tmp_path: Path) -> tuple[FastAPI, Path]:
    db = tmp_path / "web.db"
    return create_app(WebSettings(database_url=f"sqlite:///{db}", secret_key="s", progression=False)), db


@pytest.fixture
def held_lock(app_and_db: tuple[FastAPI, Path]) -> Iterator[threading.Event]:
    """Another connection takes the database's write lock and keeps it for ``HOLD_S`` seconds (like a slow
    writer in another worker). Yields once the lock is held."""
    held = threading.Event()

    def hold() -> None:
        conn = sqlite3.connect(app_and_db[1], isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        held.set()
        time.sleep(HOLD_S)
        conn.execute("ROLLBACK")
        conn.close()

    t = threading.Thread(target=hold)
    t.start()
    held.wait(5)
    yield held
    t.join()


async def _race(app: FastAPI) -> tuple[float, int, float, int]:
    """A request that writes (a new player: ``/api/players/me`` without a cookie) and, once it waits on the
    lock, ``/api/health``. Returns (seconds until health answered, its status, the writer's seconds and status),
    all from the writer's start: a blocked loop cannot even run the 0.3 s sleep before the health request."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        t0 = time.perf_counter()
        writer = asyncio.create_task(client.get("/api/players/me"))
        await asyncio.sleep(0.3)  # the writer is now inside the handler, waiting on the lock
        health = await client.get("/api/health")
        t_health = time.perf_counter() - t0
        w = await writer
        return t_health, health.status_code, time.perf_counter() - t0, w.status_code



def _run_fresh(coro: Any) -> Any:
    """``asyncio.run`` on a thread of its own: an earlier test (Playwright's sync API) may have left an event loop
    running on this one."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def test_a_held_write_lock_does_not_stall_other_requests(
    app_and_db: tuple[FastAPI, Path], held_lock: threading.Event
) -> None:
    t_health, health, t_writer, writer = _run_fresh(_race(app_and_db[0]))
    assert health == 200 and t_health < 0.5 * HOLD_S, f"/api/health took {t_health:.2f} s behind a DB wait"
    assert writer == 200 and t_writer >= HOLD_S * 0.8  # the writer really waited for the lock, then succeeded


def test_the_guard_catches_db_calls_on_the_event_loop(
    app_and_db: tuple[FastAPI, Path], held_lock: threading.Event, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Planted fault: the old inline SQLite write (run on the event loop). The same race must show the stall."""

    async def inline_write(self: Db, fn: Any, *args: Any, threaded: bool = False) -> Any:
        return self.call_write(fn, *args)

    monkeypatch.setattr(Db, "write", inline_write)
    t_health, health, _, writer = _run_fresh(_race(app_and_db[0]))
    assert health == 200 and writer == 200
    assert t_health >= 0.5 * HOLD_S, "the planted blocking write did not stall /api/health: the test is blind"
