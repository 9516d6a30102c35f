"""Per-request database sessions, run off the event loop (one session per call, closed afterwards)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any, TypeVar

from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from mirrorneuron.store.db import session_factory

T = TypeVar("T")


class Db:
    """``await db.read(fn, *args)`` / ``await db.write(fn, *args)`` call ``fn(session, *args)`` with a fresh
    session in the threadpool, so a slow query or a held SQLite lock (up to its 10 s busy timeout) never
    stalls the event loop; writes commit. On SQLite a per-process lock queues this process's writes in order
    instead of letting them fight over the file lock (other processes wait on the busy timeout)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.factory = session_factory(engine)
        self._write_lock: threading.Lock | None = threading.Lock() if engine.dialect.name == "sqlite" else None

    def _lock(self) -> AbstractContextManager[Any]:
        return self._write_lock if self._write_lock is not None else nullcontext()

    def call_read(self, fn: Callable[..., T], *args: Any) -> T:
        with self.factory() as s:
            return fn(s, *args)

    def call_write(self, fn: Callable[..., T], *args: Any) -> T:
        with self._lock(), self.factory() as s:
            out = fn(s, *args)
            s.commit()
            return out

    async def read(self, fn: Callable[..., T], *args: Any, threaded: bool = True) -> T:
        """(``threaded`` is accepted for older callers; every call runs in the threadpool.)"""
        return await run_in_threadpool(self.call_read, fn, *args)

    async def write(self, fn: Callable[..., T], *args: Any, threaded: bool = True) -> T:
        return await run_in_threadpool(self.call_write, fn, *args)
