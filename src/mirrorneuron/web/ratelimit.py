"""The per-player guess rate limit, kept in the database (``rate_buckets``) so every web worker enforces one
limit: a token bucket of ``burst`` tokens refilled at ``rate`` per second (wall clock, shared by processes).

One request is one atomic statement, ``INSERT … ON CONFLICT (key) DO UPDATE … WHERE refilled ≥ 1 RETURNING``
(SQLite ≥ 3.35 and Postgres): a new key gets a full bucket less one token; an existing one is refilled and
loses a token only when it holds one, otherwise the row is left as it is (the refill is linear in time, so an
unchanged row still refills correctly) and nothing is returned. Postgres locks the row for the upsert, SQLite
the file, so concurrent requests on any number of workers are counted exactly once each.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import ColumnElement, case, delete, literal
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from mirrorneuron.store.models import RateBucket

PRUNE_EVERY = 10_000  # calls per process between deletions of buckets that are full again anyway


def _capped(x: ColumnElement[float], cap: float) -> ColumnElement[float]:
    return case((x > cap, literal(cap)), else_=x)


class RateLimiter:
    def __init__(self, rate: float, burst: float, clock: Callable[[], float] = time.time) -> None:
        self.rate, self.burst, self.clock = rate, burst, clock
        self._calls = 0

    def allow(self, s: Session, key: str) -> bool:
        """Take one token of ``key``'s bucket if it has one (the caller commits)."""
        if self.burst < 1.0:
            return False
        now = self.clock()
        insert: Any = (postgresql if s.get_bind().dialect.name == "postgresql" else sqlite).insert
        t = RateBucket.__table__.c
        refilled = _capped(t.tokens + (literal(now) - t.updated) * self.rate, self.burst)
        stmt = (
            insert(RateBucket)
            .values(key=key, tokens=self.burst - 1.0, updated=now)
            .on_conflict_do_update(
                index_elements=[t.key], set_={"tokens": refilled - 1.0, "updated": now}, where=refilled >= 1.0
            )
            .returning(t.tokens)
        )
        ok = s.execute(stmt).first() is not None
        self._calls += 1
        if self._calls % PRUNE_EVERY == 0:
            self.prune(s, now)
        return ok

    def prune(self, s: Session, now: float) -> None:
        """Forget buckets idle long enough to be full again (a missing bucket is a full one)."""
        if self.rate > 0:
            s.execute(delete(RateBucket).where(RateBucket.updated < now - self.burst / self.rate))
