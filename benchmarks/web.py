"""Web game throughput: the real server under 32 concurrent clients, against its bare health endpoint.

One run, everything on 127.0.0.1 and in a temporary ``MIRRORNEURON_HOME`` (SQLite, or ``--database postgres``:
a throwaway Postgres from the pgserver wheel):

1. starts ``mirrorneuron serve`` (uvicorn) on a free port with the per-player guess rate limit raised
   (``MIRRORNEURON_GUESS_RATE`` / ``_BURST``), and waits for ``/api/health``;
2. makes one player per client (its signed cookie and CSRF token) and, for each, games of 100 level-1 rounds
   on the default text model (a copy of ``tiny-gelu`` from your home, else one trained for a few steps);
3. runs Debian's ``wrk`` (``apt-get install -y wrk``), 32 connections, each phase bounded in time:
   bare ``GET /api/health``; ``GET /api/games/{id}/round`` over every player's game with its cookie; and
   ``POST /api/rounds/{id}/guess`` (submit only: round ids and tokens are read from the server's database
   beforehand, each guessed once, so the number of rounds caps the phase).
   ``--sweep 32,64,128`` repeats the round and submit phases at each connection count (``load`` in the JSON);
   then live custom text: ``GET /api/custom`` of a text of 200 tokens on a neuron of the model, 8 connections;
4. stops the server and counts ``database is locked`` / busy errors in its log.

``--baseline-src DIR`` runs everything a second time in the same invocation against a server importing
``mirrorneuron`` from ``DIR`` (e.g. ``git worktree add /tmp/before <commit>`` then ``/tmp/before/src``), for
before/after figures of a change from one run (``baseline`` and ``*_vs_baseline`` in the JSON).
``--smollm2`` also times custom text on SmolLM2-135M in-process (8 threads; needs the ``real`` extra).

Also timed in-process before the server starts: ``repo.next_round`` and ``repo.submit_guess`` per call,
each in a fresh session as the web layer calls them. The last line printed is one JSON object.
Run with ``.venv/bin/python benchmarks/web.py [--workers 2] [--seconds 8] [--database postgres]``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from web_extra import custom_in_process, json_encoders, postgres, text_of_tokens
from web_wrk import INSTALL, log, show, wrk

MODEL = "tiny-gelu"
UNIT = f"{MODEL}/blocks.0.mlp.post/neuron/5"
ROUNDS_PER_GAME = 100  # the most a game may have
BUSY = re.compile(r"database is locked|database is busy|SQLITE_BUSY", re.IGNORECASE)

def server_stack() -> str:
    """What uvicorn will run on: it picks httptools and uvloop when they are importable (same environment)."""
    http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    return f"uvicorn {http}+{loop}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ----------------------------------------------------------------------------------------------- the model
def install_model(home: Path) -> None:
    """A copy of the default text model from your own home if it is trained there (and a link to its
    harvests), else a few training steps: the serving path does not depend on the model's quality."""
    from mirrorneuron.config import settings

    target = home / "zoo" / MODEL
    mine = settings().home
    if (mine / "zoo" / MODEL).is_dir():
        shutil.copytree(mine / "zoo" / MODEL, target)
        if (mine / "harvests").is_dir():
            (home / "harvests").symlink_to(mine / "harvests", target_is_directory=True)
        log(f"using {MODEL} from {mine}")
        return
    from mirrorneuron.models.train import train
    from mirrorneuron.models.zoo import REGISTRY

    t0 = time.perf_counter()
    train(REGISTRY[MODEL].model_copy(update={"steps": 5}), target)
    log(f"trained a 5-step {MODEL} in {time.perf_counter() - t0:.1f} s")


# -------------------------------------------------------------------------------------------- store per call
def store_per_call(folder: Path, games: int = 32, per_game: int = ROUNDS_PER_GAME) -> dict[str, float]:
    """Median ms of ``next_round`` and ``submit_guess``, each in a fresh session (as ``web.db.Db`` calls them),
    on a SQLite file of ``games`` × ``per_game`` rounds with ~5 kB payloads (half of them get guessed)."""
    from mirrorneuron.store import repo
    from mirrorneuron.store.db import make_engine, migrate, session_factory

    engine = make_engine(f"sqlite:///{folder / 'calls.db'}")
    migrate(engine)
    factory = session_factory(engine)
    tokens = [f" token{j}" for j in range(30)]
    refs = [
        {"index": k, "kind": "top", "value": 0.5, "example": {"kind": "text", "tokens": tokens, "target": 6}}
        for k in range(8)
    ]
    payload = {"example": {"kind": "text", "tokens": tokens, "target": 24}, "hints": {"level": 1, "references": refs}}
    ids: list[tuple[str, str]] = []
    with factory() as s:
        repo.ensure_model(s, "m", "text", "-")
        repo.ensure_unit(s, "m/s/neuron/0", "m", "s", "neuron", 0, {})
        repo.ensure_examples(s, "m", [{"id": f"e{i}", "harvest_index": i, "payload": {}} for i in range(per_game)])
        for _ in range(games):
            pid = repo.ensure_player(s, None).id
            rows = [
                {
                    "seq": i,
                    "example_id": f"e{i}",
                    "example_index": i,
                    "source": "top",
                    "weight": 1.0,
                    "scale": 1.0,
                    "payload": payload,
                    "actual": 0.5,
                }
                for i in range(per_game)
            ]
            ids.append((repo.create_game(s, pid, "m/s/neuron/0", 1, True, 0, rows).id, pid))
        s.commit()

    def next_round(game_id: str) -> Any:
        with factory() as s:
            return repo.next_round(s, game_id)

    def timed(fn: Any, *args: Any) -> float:
        t0 = time.perf_counter()
        fn(*args)
        return time.perf_counter() - t0

    reads, writes = [], []
    for _ in range(per_game // 2):
        for game_id, pid in ids:
            reads.append(timed(next_round, game_id))
            rnd = next_round(game_id)
            with factory() as s:
                writes.append(timed(repo.submit_guess, s, pid, rnd.id, rnd.token, 0.25, 1.0))
    engine.dispose()
    return {"next_round_ms": statistics.median(reads) * 1e3, "submit_guess_ms": statistics.median(writes) * 1e3}


CUSTOM_UNIT = f"{MODEL}/blocks.1.mlp.post/neuron/3"  # no benchmark game is open on it (custom text is refused then)
CUSTOM_TOKENS, CUSTOM_CLIENTS = 200, 8


# ------------------------------------------------------------------------------------------------ the server
@contextmanager
def server(home: Path, workers: int, db_url: str | None, src: str | None) -> Iterator[tuple[str, Path, int]]:
    """``mirrorneuron serve`` on a free loopback port (importing ``mirrorneuron`` from ``src`` when given);
    yields (base URL, its log file, its process group); always stopped."""
    port = free_port()
    env = {
        **os.environ,
        "MIRRORNEURON_HOME": str(home),
        "MIRRORNEURON_SECRET_KEY": "benchmark-secret",
        "MIRRORNEURON_GUESS_RATE": "1000000",  # the per-player limit would otherwise answer 429s
        "MIRRORNEURON_GUESS_BURST": "1000000",
    }
    env.pop("MIRRORNEURON_DATABASE_URL", None)
    if db_url:
        env["MIRRORNEURON_DATABASE_URL"] = db_url
    if src:
        env["PYTHONPATH"] = os.pathsep.join([src, *filter(None, [os.environ.get("PYTHONPATH")])])
    cmd = [sys.executable, "-m", "mirrorneuron", "serve", "--host", "127.0.0.1", "--port", str(port)]
    log_path = home / "server.log"
    with open(log_path, "w") as out:
        proc = subprocess.Popen(
            [*cmd, "--workers", str(workers)], env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the server exited ({proc.returncode}):\n{log_path.read_text()[-2000:]}")
            try:
                if httpx.get(f"{base}/api/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the server did not answer /api/health within 180 s")
            time.sleep(0.1)
        yield base, log_path, proc.pid
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(10)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


class Client:
    """One player: its cookie jar and CSRF token."""

    def __init__(self, base: str) -> None:
        self.http = httpx.Client(base_url=base, timeout=120)
        me = self.http.get("/api/players/me").raise_for_status().json()
        self.id, self.csrf = me["player_id"], me["csrf_token"]
        self.cookie = self.http.cookies["mn_player"]
        self.games: list[str] = []

    def new_game(self, seed: int) -> None:
        spec = {"unit": UNIT, "level": 1, "rounds": ROUNDS_PER_GAME, "seed": seed}
        r = self.http.post("/api/games", json=spec, headers={"X-CSRF-Token": self.csrf})
        self.games.append(r.raise_for_status().json()["game_id"])


def make_players(base: str, clients: int, games_each: int) -> list[Client]:
    players = [Client(base) for _ in range(clients)]
    t0 = time.perf_counter()
    players[0].new_game(0)  # the first game harvests the model (a few seconds)
    log(f"first game (harvests the model) in {time.perf_counter() - t0:.1f} s")
    todo = [(p, i * clients + k) for i in range(games_each) for k, p in enumerate(players)][1:]
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda job: job[0].new_game(job[1]), todo))
    return players


def guess_lines(db_url: str, players: list[Client]) -> list[str]:
    """Every round of the benchmark's games as a guess request, interleaved across players (as if each
    played in turn). The tokens come from the database: the API serves one round at a time."""
    from sqlalchemy import create_engine, text

    by_id = {p.id: p for p in players}
    engine = create_engine(db_url)
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT r.id, r.token, g.player_id FROM rounds r JOIN games g ON g.id = r.game_id "
                "ORDER BY r.seq, g.created_at, g.id"
            )
        ).fetchall()
    engine.dispose()
    body = '{"token": "%s", "value": 0.1, "seconds": 2.5}'
    return [
        f"POST\t/api/rounds/{rid}/guess\t{by_id[pid].cookie}\t{by_id[pid].csrf}\t{body % token}"
        for rid, token, pid in rows
    ]


def fresh_database(pg_url: str | None, home: Path) -> str:
    """A new empty database: a database on the Postgres server, else a SQLite file in ``home``."""
    if pg_url is None:
        return f"sqlite:///{home / 'mirrorneuron.db'}"
    from sqlalchemy import create_engine, text

    name = f"bench_{os.urandom(4).hex()}"
    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    base, _, query = pg_url.partition("?")
    return f"{base.rsplit('/', 1)[0]}/{name}" + (f"?{query}" if query else "")


def brief(st: dict[str, Any]) -> dict[str, Any]:
    keys = ("rps", "p50_ms", "p99_ms", "n5xx", "non2xx", "socket_errors", "ran_out")
    return {k: round(st[k], 2) if isinstance(st[k], float) else st[k] for k in keys}


# ------------------------------------------------------------------------------------------------- one run
def run_server(args: argparse.Namespace, folder: Path, pg_url: str | None, src: str | None) -> dict[str, Any]:
    """Every phase against one server; the measures as a dict."""
    home = folder / ("home-baseline" if src else "home")
    install_model(home)
    db_url = fresh_database(pg_url, home)
    conns = args.sweep or [args.clients]
    with server(home, args.workers, db_url if pg_url else None, src) as (base, log_path, pgid):
        t0 = time.perf_counter()
        players = make_players(base, args.clients, args.games or (2 + 2 * args.workers) * len(conns))
        n_games = sum(len(p.games) for p in players)
        log(f"{args.clients} players, {n_games} games of {ROUNDS_PER_GAME} rounds in {time.perf_counter() - t0:.1f} s")
        common = {"seconds": args.seconds, "threads": args.wrk_threads, "pgid": pgid}
        health = wrk(base, "/api/health", folder, "health", connections=args.clients, **common)
        show("health", health)
        fetches = [f"GET\t/api/games/{g}/round\t{p.cookie}\t-\t-" for p in players for g in p.games]
        guesses = guess_lines(db_url, players)
        share = len(guesses) // len(conns)
        load: dict[int, dict[str, Any]] = {}
        for k, c in enumerate(conns):
            rounds = wrk(base, "/", folder, "round", lines=fetches, connections=c, **common)
            show(f"round fetch, {c} clients", rounds)
            mine = guesses[k * share : (k + 1) * share]
            submit = wrk(base, "/", folder, "submit", lines=mine, cycle=False, connections=c, **common)
            show(f"guess submit, {c} clients", submit)
            if submit["ran_out"]:
                log(f"WARNING: all {len(mine)} rounds were guessed before the time was up: raise --games")
            load[c] = {"round": rounds, "submit": submit}
        text, n_tokens = text_of_tokens(MODEL, CUSTOM_TOKENS)
        viewer = Client(base)
        q = httpx.QueryParams({"unit": CUSTOM_UNIT, "text": text})
        custom = wrk(
            base, "/", folder, "custom", lines=[f"GET\t/api/custom?{q}\t{viewer.cookie}\t-\t-"],
            connections=CUSTOM_CLIENTS, **common,
        )  # fmt: skip
        show(f"custom text ({n_tokens} tokens), {CUSTOM_CLIENTS} clients", custom)
        for p in [*players, viewer]:
            p.http.close()
        server_log = log_path.read_text()
    main_c = args.clients if args.clients in load else conns[0]
    rounds, submit = load[main_c]["round"], load[main_c]["submit"]
    every = [health, custom, *(st for ph in load.values() for st in ph.values())]
    return {
        "health_rps": round(health["rps"], 1),
        "round_rps": round(rounds["rps"], 1),
        "round_p50_ms": round(rounds["p50_ms"], 2),
        "round_p99_ms": round(rounds["p99_ms"], 2),
        "submit_rps": round(submit["rps"], 1),
        "submit_p50_ms": round(submit["p50_ms"], 2),
        "submit_p99_ms": round(submit["p99_ms"], 2),
        "submit_rps_ratio_vs_bare": round(submit["rps"] / health["rps"], 3),
        "server_cpu_ms_per_request": {
            k: round(v["cpu_ms"], 3) for k, v in (("health", health), ("round", rounds), ("submit", submit))
        },
        "submitted": sum(ph["submit"]["ok"] for ph in load.values()),
        "submit_ran_out": any(ph["submit"]["ran_out"] for ph in load.values()),
        # health has no per-response hook (it would slow the baseline): any failure there counts as a 5xx
        "errors_5xx": health["non2xx"] + sum(st["n5xx"] for st in every[1:]),
        "errors_4xx": sum(st["non2xx"] - st["n5xx"] for st in every[1:]),
        "socket_errors": sum(st["socket_errors"] for st in every),
        "sqlite_busy": len(BUSY.findall(server_log)),
        "tracebacks": server_log.count("Traceback"),
        "custom_tokens": n_tokens,
        "custom_p50_ms": round(custom["p50_ms"], 2),
        "custom_p99_ms": round(custom["p99_ms"], 2),
        "custom_rps": round(custom["rps"], 1),
        "load": {str(c): {k: brief(v) for k, v in ph.items()} for c, ph in load.items()} if args.sweep else None,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=32, help="players, and concurrent connections of the main run")
    ap.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    ap.add_argument("--seconds", type=float, default=8.0, help="length of each phase")
    ap.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    ap.add_argument("--sweep", type=lambda v: [int(x) for x in v.split(",")], help="e.g. 32,64,128 connections")
    ap.add_argument("--baseline-src", help="also run a server importing mirrorneuron from this src folder")
    ap.add_argument("--smollm2", action="store_true", help="also time custom text on SmolLM2 in-process")
    ap.add_argument(
        "--games", type=int, help="games of 100 rounds per player (caps the submit phases; default 2 + 2 per worker, per sweep point)"
    )  # fmt: skip
    ap.add_argument("--wrk-threads", type=int, default=1)
    args = ap.parse_args()
    if shutil.which("wrk") is None:
        sys.exit(INSTALL)
    t_start = time.perf_counter()
    load_avg = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="mn-web-bench-") as tmp, (
        postgres() if args.database == "postgres" else nullcontext(None)
    ) as pg_url:
        folder = Path(tmp)
        calls = store_per_call(folder)
        log(f"store per call: next_round {calls['next_round_ms']:.3f} ms, submit_guess {calls['submit_guess_ms']:.3f} ms")
        baseline = run_server(args, folder, pg_url, args.baseline_src) if args.baseline_src else None
        ours = run_server(args, folder, pg_url, None)
    result: dict[str, Any] = {"bench": "web", **ours}
    if baseline is not None:
        result["baseline"] = baseline
        for k in ("round_rps", "submit_rps", "health_rps", "custom_rps"):
            result[f"{k}_vs_baseline"] = round(ours[k] / baseline[k], 3) if baseline[k] else None
    if args.smollm2:
        result["custom_smollm2"] = {
            k: round(v, 2) for k, v in custom_in_process("smollm2-135m/blocks.7.mlp.post/neuron/17", CUSTOM_TOKENS).items()
        }
    result.update(
        json_encoders={k: round(v, 1) for k, v in json_encoders().items()},
        store_next_round_ms=round(calls["next_round_ms"], 3),
        store_submit_guess_ms=round(calls["submit_guess_ms"], 3),
        clients=args.clients,
        workers=args.workers,
        database=args.database,
        server=server_stack(),
        load_generator="wrk",
        load_average_at_start=[round(x, 2) for x in load_avg],
        load_average_at_end=[round(x, 2) for x in os.getloadavg()],
        seconds=round(time.perf_counter() - t_start, 1),
    )
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
