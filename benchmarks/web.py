"""Web game throughput: the real server under 32 concurrent clients, against its bare health endpoint.

One run, everything on 127.0.0.1 and in a temporary ``MIRRORNEURON_HOME`` (SQLite):

1. starts ``mirrorneuron serve`` (uvicorn) on a free port with the per-player guess rate limit raised
   (``MIRRORNEURON_GUESS_RATE`` / ``_BURST``), and waits for ``/api/health``;
2. makes one player per client (its signed cookie and CSRF token) and, for each, games of 100 level-1 rounds
   on the default text model (a copy of ``tiny-gelu`` from your home, else one trained for a few steps);
3. runs Debian's ``wrk`` (``apt-get install -y wrk``), 32 connections, each phase bounded in time:
   bare ``GET /api/health``; ``GET /api/games/{id}/round`` over every player's game with its cookie; and
   ``POST /api/rounds/{id}/guess`` (submit only: round ids and tokens are read from the server's database
   beforehand, each guessed once, so the number of rounds caps the phase).
4. stops the server and counts ``database is locked`` / busy errors in its log.

Also timed in-process before the server starts: ``repo.next_round`` and ``repo.submit_guess`` per call,
each in a fresh session as the web layer calls them. The last line printed is one JSON object.
Run with ``.venv/bin/python benchmarks/web.py [--workers 2] [--seconds 8]``.
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
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

MODEL = "tiny-gelu"
UNIT = f"{MODEL}/blocks.0.mlp.post/neuron/5"
ROUNDS_PER_GAME = 100  # the most a game may have
BUSY = re.compile(r"database is locked|database is busy|SQLITE_BUSY", re.IGNORECASE)

# wrk scripts. Each wrk thread has its own Lua state; ``done`` runs in the main one and reads the threads'
# globals. Latencies are in microseconds.
LUA_COMMON = r"""
threads = {}
function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end
function done(summary, latency, requests)
  local ok, n5xx, ran_out = 0, 0, 0
  for _, t in ipairs(threads) do
    ok = ok + (t:get("ok") or 0)
    n5xx = n5xx + (t:get("n5xx") or 0)
    ran_out = ran_out + (t:get("ran_out") or 0)
  end
  local e = summary.errors
  io.write(string.format(
    'WRK {"requests": %d, "seconds": %.3f, "ok": %d, "n5xx": %d, "non2xx": %d, "socket_errors": %d, ' ..
    '"ran_out": %d, "p50_ms": %.3f, "p99_ms": %.3f, "mean_ms": %.3f, "max_ms": %.3f}\n',
    summary.requests, summary.duration / 1e6, ok, n5xx, e.status, e.connect + e.read + e.write + e.timeout, ran_out,
    latency:percentile(50) / 1e3, latency:percentile(99) / 1e3, latency.mean / 1e3, latency.max / 1e3))
end
"""

# A request list per thread, read from the file named by the first script argument: one line per request,
# tab-separated method, path, cookie, CSRF token and body ("-" for none). ``cycle`` repeats the list;
# otherwise each request is sent once and the thread stops when the list runs out (``ran_out``; wrk still
# reports the whole duration, so the rate is then too low).
LUA_LIST = r"""
local reqs, next_i = {}, 1
ok, n5xx = 0, 0
function init(args)
  local nthreads, i = tonumber(args[2]), 0
  for line in io.lines(args[1]) do
    if i % nthreads == tid then
      local method, path, cookie, csrf, body = line:match("([^\t]+)\t([^\t]+)\t([^\t]+)\t([^\t]+)\t(.+)")
      local headers = {["Cookie"] = "mn_player=" .. cookie}
      if body == "-" then
        body = nil
      else
        headers["Content-Type"] = "application/json"
        headers["X-CSRF-Token"] = csrf
      end
      table.insert(reqs, wrk.format(method, path, headers, body))
    end
    i = i + 1
  end
  cycle = args[3] == "cycle"
  idle = wrk.format("GET", "/api/health")
end
function request()
  if next_i > #reqs then
    if not cycle then
      ran_out = 1
      wrk.thread:stop()
      return idle
    end
    next_i = 1
  end
  next_i = next_i + 1
  return reqs[next_i - 1]
end
function response(status, headers, body)
  if body == '{"status":"ok"}' then return end  -- an idle request after the list ran out
  if status < 300 then ok = ok + 1 elseif status >= 500 then n5xx = n5xx + 1 end
end
"""


def server_stack() -> str:
    """What uvicorn will run on: it picks httptools and uvloop when they are importable (same environment)."""
    http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    return f"uvicorn {http}+{loop}"


def log(msg: str) -> None:
    print(f"[bench] {msg}", flush=True)


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


# ------------------------------------------------------------------------------------------------ the server
@contextmanager
def server(home: Path, workers: int) -> Iterator[tuple[str, Path, int]]:
    """``mirrorneuron serve`` on a free loopback port; yields (base URL, its log file, its process group);
    always stopped."""
    port = free_port()
    env = {
        **os.environ,
        "MIRRORNEURON_HOME": str(home),
        "MIRRORNEURON_SECRET_KEY": "benchmark-secret",
        "MIRRORNEURON_GUESS_RATE": "1000000",  # the per-player limit would otherwise answer 429s
        "MIRRORNEURON_GUESS_BURST": "1000000",
    }
    env.pop("MIRRORNEURON_DATABASE_URL", None)
    exe = Path(sys.executable).with_name("mirrorneuron")
    cmd = [str(exe), "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
    log_path = home / "server.log"
    with open(log_path, "w") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the server exited ({proc.returncode}):\n{log_path.read_text()[-2000:]}")
            try:
                if httpx.get(f"{base}/api/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the server did not answer /api/health within 60 s")
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


def server_cpu_s(pgid: int) -> float:
    """CPU seconds used so far by the server's processes (its process group; Linux /proc, else 0)."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process is gone
            continue
        if int(fields[2]) == pgid:  # pgrp; then utime, stime are fields 11, 12 after the name
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


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


def guess_lines(db: Path, players: list[Client]) -> list[str]:
    """Every round of the benchmark's games as a guess request, interleaved across players (as if each
    played in turn). The tokens come from the database: the API serves one round at a time."""
    by_id = {p.id: p for p in players}
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        rows = conn.execute(
            "SELECT r.id, r.token, g.player_id FROM rounds r JOIN games g ON g.id = r.game_id "
            "ORDER BY r.seq, g.created_at, g.id"
        ).fetchall()
    body = '{"token": "%s", "value": 0.1, "seconds": 2.5}'
    return [
        f"POST\t/api/rounds/{rid}/guess\t{by_id[pid].cookie}\t{by_id[pid].csrf}\t{body % token}"
        for rid, token, pid in rows
    ]


# ------------------------------------------------------------------------------------------------------- wrk
def wrk(
    base: str,
    path: str,
    folder: Path,
    name: str,
    seconds: float,
    connections: int,
    threads: int,
    pgid: int,
    lines: list[str] | None = None,
    cycle: bool = True,
) -> dict[str, Any]:
    """Run wrk for ``seconds`` (list mode: the requests in ``lines``); returns the numbers of its summary and
    the server's CPU milliseconds per request (less sensitive than rates to other load on the machine)."""
    script = folder / f"{name}.lua"
    args: list[str] = []
    if lines is None:
        script.write_text(LUA_COMMON)
    else:
        data = folder / f"{name}.tsv"
        data.write_text("\n".join(lines) + "\n")
        script.write_text(LUA_COMMON + LUA_LIST)
        args = ["--", str(data), str(threads), "cycle" if cycle else "once"]
    cmd = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
        base + path,
        *args,
    ]
    cpu = server_cpu_s(pgid)
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60)
    cpu = server_cpu_s(pgid) - cpu
    found = [line[4:] for line in out.stdout.splitlines() if line.startswith("WRK ")]
    if out.returncode != 0 or not found:
        raise RuntimeError(f"wrk failed ({out.returncode}): {out.stdout[-1000:]}{out.stderr[-1000:]}")
    stats: dict[str, Any] = json.loads(found[-1])
    if lines is None:
        stats["ok"] = stats["requests"] - stats["non2xx"]  # no Lua response hook: wrk counts status ≥ 400
    stats["rps"] = stats["ok"] / stats["seconds"]
    stats["cpu_ms"] = cpu * 1e3 / max(1, stats["requests"])
    return stats


def show(name: str, st: dict[str, Any]) -> None:
    log(
        f"{name}: {st['rps']:.0f} ok/s ({st['requests']} requests in {st['seconds']:.1f} s), "
        f"p50 {st['p50_ms']:.2f} ms, p99 {st['p99_ms']:.2f} ms, non-2xx {st['non2xx']}, 5xx {st['n5xx']}, "
        f"server CPU {st['cpu_ms']:.3f} ms/request"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=32, help="concurrent connections (one player each)")
    ap.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    ap.add_argument("--seconds", type=float, default=8.0, help="length of each phase")
    ap.add_argument(
        "--games", type=int, help="games of 100 rounds per player (caps the submit phase; default 2 + 2 per worker)"
    )
    ap.add_argument("--wrk-threads", type=int, default=1)
    args = ap.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("this benchmark needs wrk: apt-get install -y wrk")
    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="mn-web-bench-") as tmp:
        folder = Path(tmp)
        calls = store_per_call(folder)
        log(
            f"store per call: next_round {calls['next_round_ms']:.3f} ms, "
            f"submit_guess {calls['submit_guess_ms']:.3f} ms (SQLite, median)"
        )
        home = folder / "home"
        install_model(home)
        with server(home, args.workers) as (base, log_path, pgid):
            t0 = time.perf_counter()
            players = make_players(base, args.clients, args.games or 2 + 2 * args.workers)
            n_games = sum(len(p.games) for p in players)
            log(
                f"{args.clients} players, {n_games} games of {ROUNDS_PER_GAME} rounds in {time.perf_counter() - t0:.1f} s"
            )
            common = {"seconds": args.seconds, "connections": args.clients, "threads": args.wrk_threads, "pgid": pgid}
            health = wrk(base, "/api/health", folder, "health", **common)
            show("health", health)
            fetches = [f"GET\t/api/games/{g}/round\t{p.cookie}\t-\t-" for p in players for g in p.games]
            rounds = wrk(base, "/", folder, "round", lines=fetches, **common)
            show("round fetch", rounds)
            guesses = guess_lines(home / "mirrorneuron.db", players)
            submit = wrk(base, "/", folder, "submit", lines=guesses, cycle=False, **common)
            show("guess submit", submit)
            if submit["ran_out"]:
                log(
                    f"WARNING: all {len(guesses)} rounds were guessed before the time was up, so submit_rps is "
                    "too low: raise --games"
                )
            for p in players:
                p.http.close()
        server_log = log_path.read_text()
    busy = len(BUSY.findall(server_log))
    log(f"server log: {busy} busy/locked errors, {server_log.count('Traceback')} tracebacks")
    result = {
        "bench": "web",
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
        "submitted": submit["ok"],
        "submit_ran_out": bool(submit["ran_out"]),
        # health has no per-response hook (it would slow the baseline): any failure there counts as a 5xx
        "errors_5xx": health["non2xx"] + rounds["n5xx"] + submit["n5xx"],
        "errors_4xx": sum(st["non2xx"] - st["n5xx"] for st in (rounds, submit)),
        "socket_errors": sum(st["socket_errors"] for st in (health, rounds, submit)),
        "sqlite_busy": busy,
        "store_next_round_ms": round(calls["next_round_ms"], 3),
        "store_submit_guess_ms": round(calls["submit_guess_ms"], 3),
        "clients": args.clients,
        "workers": args.workers,
        "server": server_stack(),
        "load_generator": "wrk",
        "seconds": round(time.perf_counter() - t_start, 1),
    }
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
