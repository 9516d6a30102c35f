"""wrk, the load generator of ``benchmarks/web.py``: its Lua scripts, one timed phase, the server's CPU use."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

INSTALL = "this benchmark needs wrk (a C load generator): apt-get install -y wrk  (macOS: brew install wrk)"


def log(msg: str) -> None:
    print(f"[bench] {msg}", flush=True)


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
