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
    session; writes commit. On SQLite the calls run inline on the event loop: a local indexed read or insert
    takes well under a millisecond, far less than a hop to the threadpool and back under load, and inline
    writes queue in order instead of fighting over the file lock. Other databases (network round trips) run
    in the threadpool. ``threaded`` forces the threadpool (heavy calls such as exports use it)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.factory = session_factory(engine)
        self.inline = engine.dialect.name == "sqlite"
        self._write_lock: threading.Lock | None = threading.Lock() if self.inline else None

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

    async def read(self, fn: Callable[..., T], *args: Any, threaded: bool = False) -> T:
        if self.inline and not threaded:
            return self.call_read(fn, *args)
        return await run_in_threadpool(self.call_read, fn, *args)

    async def write(self, fn: Callable[..., T], *args: Any, threaded: bool = False) -> T:
        if self.inline and not threaded:
            return self.call_write(fn, *args)
        return await run_in_threadpool(self.call_write, fn, *args)
