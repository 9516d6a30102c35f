"""Crash durability: many players submit guesses over HTTP while the server is kill -9'd (its whole process
group) at random moments and restarted; afterwards every ACKNOWLEDGED (2xx) guess must be in the database with
its value, no guess stored twice, and the database must pass its integrity checks. Last line: JSON.

    python tests/stress/crash_guesses.py --db sqlite --kills 100 --players 16 --seed 1
    python tests/stress/crash_guesses.py --db postgres --kills 100 --players 16 --seed 1

``--plant ack-before-commit`` runs a faulty server (answers the guess, commits it a second later) that the
checker must catch: it exists only to prove the check can fail. Postgres is a pgserver instance outside the
app's process group (the app is what crashes, not the database).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

PLANT_ENV = "MN_CRASH_PLANT"  # read only by this script's child mode, never by the app


def _plant_ack_before_commit() -> None:
    """The planted fault: the guess is answered from a rolled-back session and committed 1 s later."""
    from mirrorneuron.store import repo
    from mirrorneuron.web.db import Db

    honest = Db.call_write

    def call_write(self: Db, fn: Any, *args: Any) -> Any:
        if fn is not repo.submit_guess:
            return honest(self, fn, *args)
        with self._lock(), self.factory() as s:
            out = fn(s, *args)
            s.flush()
            for obj in out:
                s.expunge(obj)  # keep the answer's attributes readable after the rollback
            s.rollback()

        def later() -> None:
            with contextlib.suppress(Exception):  # a duplicate after the client's re-guess: the fault is the point
                honest(self, fn, *args)

        threading.Timer(1.0, later).start()
        return out

    Db.call_write = call_write  # type: ignore[method-assign]


def child(argv: list[str]) -> None:
    """``crash_guesses.py child serve …``: the real ``mirrorneuron`` CLI, with the planted fault if asked."""
    if os.environ.get(PLANT_ENV) == "ack-before-commit":
        _plant_ack_before_commit()
    from mirrorneuron.cli import main

    sys.argv = ["mirrorneuron", *argv]
    main()


@dataclass
class Tally:
    lock: threading.Lock = field(default_factory=threading.Lock)
    acks: list[tuple[str, str, float]] = field(default_factory=list)  # (player, round, value) answered 2xx
    conflicts: int = 0  # a retried guess answered 409: its unanswered first try was committed
    errors: dict[str, int] = field(default_factory=dict)
    in_flight: int = 0

    def error(self, kind: str) -> None:
        with self.lock:
            self.errors[kind] = self.errors.get(kind, 0) + 1


class Player(threading.Thread):
    """One browser-like player: cookie + CSRF, a game, then fetch round → guess, retrying through crashes."""

    def __init__(self, base: str, tally: Tally, stop: threading.Event, seed: int, rounds: int) -> None:
        super().__init__(daemon=True)
        self.client = httpx.Client(base_url=base, timeout=10.0)
        self.tally, self.stop, self.rng, self.rounds = tally, stop, random.Random(seed), rounds
        self.id = self.csrf = self.game = ""
        self.pending: tuple[str, str, float] | None = None  # (round, token, value) sent but not answered

    def call(self, method: str, url: str, body: Any = None, timeout: float = 10.0) -> httpx.Response | None:
        try:
            return self.client.request(method, url, json=body, headers={"X-CSRF-Token": self.csrf}, timeout=timeout)
        except httpx.HTTPError:
            time.sleep(0.05)  # the server is down or restarting: try again
            return None

    def step(self) -> None:
        if not self.id:
            r = self.call("GET", "/api/players/me")
            if r is not None and r.status_code == 200:
                me = r.json()
                self.id, self.csrf = me["player_id"], me["csrf_token"]
            return
        if self.pending is not None:
            return self.guess(*self.pending)
        if not self.game:
            spec = {"rounds": self.rounds, "level": 0, "seed": self.rng.randrange(2**31)}
            r = self.call("POST", "/api/games", spec, timeout=300.0)  # a cold unit cache takes a while
            if r is not None and r.status_code == 201:
                self.game = r.json()["game_id"]
            elif r is not None:
                self.tally.error(f"new game {r.status_code} {r.text[:120]}")
            return
        r = self.call("GET", f"/api/games/{self.game}/round")
        if r is None or r.status_code != 200:
            return
        nxt = r.json()
        if nxt["done"]:
            self.game = ""
            return
        self.pending = (nxt["round"]["round_id"], nxt["round"]["token"], round(self.rng.uniform(-5, 5), 6))
        self.guess(*self.pending)

    def guess(self, round_id: str, token: str, value: float) -> None:
        with self.tally.lock:
            self.tally.in_flight += 1
        try:
            r = self.call("POST", f"/api/rounds/{round_id}/guess", {"token": token, "value": value})
        finally:
            with self.tally.lock:
                self.tally.in_flight -= 1
        if r is None or r.status_code >= 500 or r.status_code == 429:
            return  # unanswered: send the same guess again
        self.pending = None
        with self.tally.lock:
            if r.status_code == 200:
                self.tally.acks.append((self.id, round_id, float(r.json()["guess"])))
            elif r.status_code == 409:
                self.tally.conflicts += 1
            else:
                self.tally.errors[f"guess {r.status_code}"] = self.tally.errors.get(f"guess {r.status_code}", 0) + 1

    def run(self) -> None:
        while not self.stop.is_set():
            self.step()


class Server:
    def __init__(self, env: dict[str, str], port: int, workers: int) -> None:
        self.env, self.port, self.workers = env, port, workers
        self.proc: subprocess.Popen[bytes] | None = None
        self.startups: list[float] = []

    def start(self, log: Path) -> None:
        cmd = [sys.executable, __file__, "child", "serve", "--port", str(self.port)]
        if self.workers > 1:
            cmd += ["--workers", str(self.workers)]
        t0 = time.monotonic()
        with log.open("ab") as out:
            self.proc = subprocess.Popen(cmd, env=self.env, stdout=out, stderr=out, start_new_session=True)
        while time.monotonic() - t0 < 300:
            if self.proc.poll() is not None:
                raise SystemExit(f"server exited with {self.proc.returncode}; see {log}")
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/api/health", timeout=1).status_code == 200:
                    self.startups.append(time.monotonic() - t0)
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise SystemExit(f"server did not answer within 300 s; see {log}")

    def kill(self) -> None:
        if self.proc is not None:
            os.killpg(self.proc.pid, signal.SIGKILL)  # the whole group: uvicorn's workers too
            self.proc.wait()
            self.proc = None


def check(url: str, acks: list[tuple[str, str, float]]) -> dict[str, Any]:
    """Every acknowledged guess stored once with its value; no round guessed twice; integrity checks clean."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as c:
            rows = c.execute(text("SELECT player_id, round_id, value FROM guesses")).all()
            integrity = integrity_sqlite(c) if engine.dialect.name == "sqlite" else integrity_postgres(c)
    finally:
        engine.dispose()
    stored: dict[tuple[str, str], list[float]] = {}
    for player, rnd, value in rows:
        stored.setdefault((player, rnd), []).append(value)
    per_round: dict[str, int] = {}
    for _, rnd in stored:
        per_round[rnd] = per_round.get(rnd, 0) + 1
    acked: dict[tuple[str, str], list[float]] = {}
    for player, rnd, value in acks:
        acked.setdefault((player, rnd), []).append(value)
    lost = [k for k in acked if k not in stored]
    wrong = [k for k, v in acked.items() if k in stored and stored[k] != v[:1]]
    return {
        "acked": len(acks),
        "stored": len(rows),
        "lost": len(lost),
        "wrong_value": len(wrong),
        "stored_twice": sum(len(v) - 1 for v in stored.values()) + sum(n - 1 for n in per_round.values()),
        "acked_twice": sum(len(v) - 1 for v in acked.values()),
        "integrity": integrity,
    }


def integrity_sqlite(c: Any) -> str:
    from sqlalchemy import text

    return ";".join(r[0] for r in c.execute(text("PRAGMA integrity_check")))


def integrity_postgres(c: Any) -> str:
    """pgserver ships no amcheck extension, so: every index valid and ready (pg_index), and each index of the
    guesses table, read through index-only access, agrees with a sequential scan of the table."""
    from sqlalchemy import text

    bad = c.execute(text("SELECT indexrelid::regclass::text FROM pg_index WHERE NOT indisvalid OR NOT indisready"))
    problems = [f"invalid index {r[0]}" for r in bad]
    c.execute(text("SET enable_indexscan = off; SET enable_bitmapscan = off; SET enable_indexonlyscan = off"))
    seq = c.execute(text("SELECT count(*), count(DISTINCT (player_id, round_id)) FROM guesses")).one()
    c.execute(text("SET enable_seqscan = off; SET enable_indexscan = on; SET enable_bitmapscan = on"))
    by_round = c.execute(text("SELECT count(*) FROM guesses WHERE round_id IS NOT NULL")).scalar()
    by_key = c.execute(text("SELECT count(*) FROM guesses WHERE player_id IS NOT NULL AND round_id > ''")).scalar()
    by_pk = c.execute(text("SELECT count(*) FROM guesses WHERE id > -1")).scalar()
    if not seq[0] == seq[1] == by_round == by_key == by_pk:
        problems.append(f"scans disagree: seq {tuple(seq)} index {by_round}/{by_key}/{by_pk}")
    c.rollback()
    return ";".join(problems) or "ok"


def start_postgres(root: Path) -> tuple[Any, str]:
    import pgserver
    from sqlalchemy import create_engine, text

    srv = pgserver.get_server(str(root / "pg"), cleanup_mode="stop")
    admin = create_engine(
        srv.get_uri().replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as c:
        c.execute(text('CREATE DATABASE "crash"'))
    url = admin.url.set(database="crash").render_as_string(hide_password=False)
    admin.dispose()
    return srv, url


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    p.add_argument("--kills", type=int, default=100)
    p.add_argument("--players", type=int, default=16)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=1, help="passed to `mirrorneuron serve --workers` when > 1")
    p.add_argument("--port", type=int, default=18431)
    p.add_argument("--rounds", type=int, default=100, help="rounds per game")
    p.add_argument("--max-up", type=float, default=1.5, help="kill at a uniform moment up to this many s after load")
    p.add_argument("--budget-s", type=float, help="stop killing after this many seconds (the JSON says how many)")
    p.add_argument("--home", type=Path, help="home to reuse (its harvests skip the first game's harvest)")
    p.add_argument("--plant", choices=["ack-before-commit"], help="run a faulty server: the check must fail")
    args = p.parse_args(argv)
    rng = random.Random(args.seed)
    root = Path(tempfile.mkdtemp(prefix="mncrash"))
    home = args.home or root / "home"
    srv = None
    if args.db == "postgres":
        srv, url = start_postgres(root)
    else:
        url = f"sqlite:///{root / 'crash.db'}"
    env = {
        **os.environ,
        "MIRRORNEURON_HOME": str(home),
        "MIRRORNEURON_DATABASE_URL": url,
        "MIRRORNEURON_SECRET_KEY": "crash-test",
        "MIRRORNEURON_GUESS_RATE": "1000000",
        "MIRRORNEURON_GUESS_BURST": "1000000",
        "MIRRORNEURON_PROGRESSION": "false",
    }
    env.pop(PLANT_ENV, None)
    if args.plant:
        env[PLANT_ENV] = args.plant
    server, tally, stop = Server(env, args.port, args.workers), Tally(), threading.Event()
    log = root / "server.log"
    t0 = time.monotonic()
    in_flight_at_kill, quiet_cycles = [], 0
    try:
        server.start(log)
        players = [
            Player(f"http://127.0.0.1:{args.port}", tally, stop, args.seed * 1000 + i, args.rounds)
            for i in range(args.players)
        ]
        for pl in players:
            pl.start()
        kills = 0
        while kills < args.kills and (args.budget_s is None or time.monotonic() - t0 < args.budget_s):
            before, deadline = len(tally.acks), time.monotonic() + 120
            while len(tally.acks) == before and time.monotonic() < deadline:  # load is flowing again
                time.sleep(0.01)
            quiet_cycles += len(tally.acks) == before
            time.sleep(rng.uniform(0.0, args.max_up))
            in_flight_at_kill.append(tally.in_flight)
            server.kill()
            kills += 1
            print(f"kill {kills}: {len(tally.acks)} acknowledged so far", file=sys.stderr, flush=True)
            time.sleep(rng.uniform(0.0, 0.2))  # clients meet a dead port for a moment
            server.start(log)
        time.sleep(rng.uniform(0.0, args.max_up))
        server.kill()  # the check reads the database as the last crash left it
        stop.set()
        for pl in players:
            pl.join(timeout=15)
        with tally.lock:
            acks = list(tally.acks)
        result = check(url, acks)
    finally:
        stop.set()
        server.kill()
        if srv is not None:
            srv.cleanup()
    result.update(
        db=args.db,
        kills=kills + 1,
        kills_asked=args.kills,
        players=args.players,
        workers=args.workers,
        seed=args.seed,
        plant=args.plant,
        conflicts_after_retry=tally.conflicts,
        errors=tally.errors,
        cycles_without_acks=quiet_cycles,
        guesses_in_flight_at_kills=sum(in_flight_at_kill),
        startup_s_median=round(statistics.median(server.startups), 2),
        startup_s_max=round(max(server.startups), 2),
        elapsed_s=round(time.monotonic() - t0, 1),
    )
    result["ok"] = (
        result["acked"] > 0
        and result["lost"] == result["wrong_value"] == result["stored_twice"] == result["acked_twice"] == 0
        and result["integrity"] == "ok"
    )
    shutil.rmtree(root, ignore_errors=True)
    return result


if __name__ == "__main__":
    if sys.argv[1:2] == ["child"]:
        child(sys.argv[2:])
    else:
        out = main()
        print(json.dumps(out))
        sys.exit(0 if out["ok"] or out["plant"] else 1)
