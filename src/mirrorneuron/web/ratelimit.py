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

from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

PRUNE_EVERY = 10_000  # calls per process between deletions of buckets that are full again anyway
_REFILLED = "CASE WHEN {t}.tokens + (:now - {t}.updated) * :rate > :burst THEN :burst ELSE {t}.tokens + (:now - {t}.updated) * :rate END"
# Same SQL on SQLite and Postgres; one pre-built statement (building a Core construct per call costs more
# than running it). The table is models.RateBucket.
_TAKE = text(
    "INSERT INTO rate_buckets (key, tokens, updated) VALUES (:key, :burst - 1, :now) "
    f"ON CONFLICT (key) DO UPDATE SET tokens = {_REFILLED.format(t='rate_buckets')} - 1, updated = :now "
    f"WHERE {_REFILLED.format(t='rate_buckets')} >= 1 "
    "RETURNING tokens"
)
_PRUNE = text("DELETE FROM rate_buckets WHERE updated < :before")


class RateLimiter:
    def __init__(self, rate: float, burst: float, clock: Callable[[], float] = time.time) -> None:
        self.rate, self.burst, self.clock = rate, burst, clock
        self._calls = 0

    def allow(self, s: Session | Connection, key: str) -> bool:
        """Take one token of ``key``'s bucket if it has one (the caller commits)."""
        if self.burst < 1.0:
            return False
        now = self.clock()
        params = {"key": key, "now": now, "rate": float(self.rate), "burst": float(self.burst)}
        conn = s if isinstance(s, Connection) else s.connection()
        ok = conn.execute(_TAKE, params).first() is not None
        self._calls += 1
        if self._calls % PRUNE_EVERY == 0:
            self.prune(conn, now)
        return ok

    def prune(self, conn: Connection, now: float) -> None:
        """Forget buckets idle long enough to be full again (a missing bucket is a full one)."""
        if self.rate > 0:
            conn.execute(_PRUNE, {"before": now - self.burst / self.rate})
