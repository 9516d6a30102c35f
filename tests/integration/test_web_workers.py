"""The web game on Postgres with several real uvicorn worker processes: ``mirrorneuron serve --workers 2``
(migrated once, before the workers start) and a second ``serve`` process on another port, both on one
database started by the test fixture. The guess rate limit holds across all of them, and concurrent guesses
on the same round land exactly once."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from store_fixtures import fresh_postgres_database, pg_server  # noqa: F401  (pytest fixture)
from test_web_queries import playable_game

from mirrorneuron.store import repo
from mirrorneuron.store.db import make_engine, session_factory
from mirrorneuron.web import create_app
from mirrorneuron.web.security import COOKIE, PlayerKeys
from mirrorneuron.web.settings import WebSettings

SECRET, BURST = "workers-test-secret", 10


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(home: Path, url: str, workers: int) -> tuple[subprocess.Popen[bytes], str, Path]:
    port = _free_port()
    env = {
        **os.environ,
        "MIRRORNEURON_HOME": str(home),
        "MIRRORNEURON_DATABASE_URL": url,
        "MIRRORNEURON_SECRET_KEY": SECRET,
        "MIRRORNEURON_GUESS_RATE": "0.001",  # ≈ no refill while the test runs
        "MIRRORNEURON_GUESS_BURST": str(BURST),
    }
    log = home / f"server-{port}.log"
    exe = Path(sys.executable).with_name("mirrorneuron")
    cmd = [str(exe), "serve", "--port", str(port), "--workers", str(workers)]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    return proc, f"http://127.0.0.1:{port}", log


def _wait_up(proc: subprocess.Popen[bytes], base: str, log: Path, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the server exited ({proc.returncode}): {log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{base}/api/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"the server did not come up: {log.read_text()[-3000:]}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(20)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@pytest.fixture(scope="module")
def servers(pg_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, list[str]]]:  # noqa: F811
    """A fresh, unmigrated Postgres database; ``serve --workers 2`` on it (it migrates), then a second
    ``serve`` process. Yields (database URL, [base URL of each server])."""
    url = fresh_postgres_database(pg_server)
    home = tmp_path_factory.mktemp("workers-home")
    first = _start(home, url, 2)
    procs = [first]
    try:
        _wait_up(*first)
        second = _start(home, url, 1)
        procs.append(second)
        _wait_up(*second)
        yield url, [first[1], second[1]]
    finally:
        for proc, _, _ in procs:
            _stop(proc)


def _client(base: str, player_id: str) -> httpx.Client:
    keys = PlayerKeys(SECRET)
    c = httpx.Client(base_url=base, timeout=30, headers={"X-CSRF-Token": keys.csrf_token(player_id)})
    c.cookies.set(COOKIE, keys.sign(player_id))
    return c


def _guess(base: str, player_id: str, round_id: str, token: str, value: float) -> int:
    with _client(base, player_id) as c:  # a new connection per request, so a server's workers share them
        body = {"token": token, "value": value, "seconds": 1.0}
        return c.post(f"/api/rounds/{round_id}/guess", json=body).status_code


def test_the_rate_limit_holds_across_workers(servers: tuple[str, list[str]]) -> None:
    """30 guesses of one player in one burst, alternating between the servers (3 processes): BURST pass."""
    url, bases = servers
    engine = make_engine(url)
    with session_factory(engine)() as s:
        pid = repo.ensure_player(s, None).id
        s.commit()
    engine.dispose()
    jobs = [(bases[i % 2], pid, "no-such-round", "t", 1.0) for i in range(30)]
    with ThreadPoolExecutor(12) as pool:
        codes = list(pool.map(lambda j: _guess(*j), jobs))
    assert sorted(set(codes)) == [404, 429]  # 404: the round does not exist, but the guess took a token
    assert codes.count(404) == BURST, codes
    per_server = {b: [c for (bb, *_), c in zip(jobs, codes, strict=True) if bb == b] for b in bases}
    assert all(404 in cs and 429 in cs for cs in per_server.values()), per_server  # both servers limited


def test_concurrent_guesses_land_exactly_once(servers: tuple[str, list[str]]) -> None:
    """Every round of 6 players' games is guessed twice at once, on both servers: one 200, one 409 each,
    and the database holds exactly the acknowledged guess."""
    url, bases = servers
    engine = make_engine(url)
    factory = session_factory(engine)
    with factory() as s:
        games = [playable_game(s, n_rounds=5) for _ in range(6)]
        rounds = [(g.player_id, r.id, r.token) for g in games for r, _ in repo.game_results(s, g.id)]
    jobs: list[Any] = []
    for k, (pid, rid, token) in enumerate(rounds):
        jobs += [(bases[0], pid, rid, token, float(k)), (bases[1], pid, rid, token, float(k) + 0.5)]
    with ThreadPoolExecutor(16) as pool:
        codes = list(pool.map(lambda j: _guess(*j), jobs))
    pairs = [sorted(codes[i : i + 2]) for i in range(0, len(codes), 2)]
    assert all(p == [200, 409] for p in pairs), pairs
    with factory() as s:
        for k, (pid, rid, _) in enumerate(rounds):
            stored = s.execute(select(repo.Guess).where(repo.Guess.round_id == rid)).scalars().all()
            acked = float(k) if codes[2 * k] == 200 else float(k) + 0.5
            assert [(g.player_id, g.value) for g in stored] == [(pid, acked)]
        assert s.scalar(select(func.count()).select_from(repo.Guess)) == len(rounds)
    engine.dispose()


def test_a_worker_does_not_migrate_a_current_schema(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``serve`` migrates before the workers start; each worker's ``create_app`` then only reads the revision
    (no upgrade, no race). A database behind the newest revision is still migrated by a lone app."""
    import mirrorneuron.store.db as store_db

    url = f"sqlite:///{tmp_path / 'w.db'}"
    calls: list[str] = []
    real = store_db.migrate

    def counted(engine: Any) -> None:
        calls.append("migrate")
        real(engine)

    monkeypatch.setattr(store_db, "migrate", counted)
    create_app(WebSettings(database_url=url, secret_key="s"))
    assert calls == ["migrate"]  # an empty database: migrated
    create_app(WebSettings(database_url=url, secret_key="s"))
    assert calls == ["migrate"]  # current: not again
