"""First start: from ``mirrorneuron play`` in a fresh ``MIRRORNEURON_HOME`` to the first round's prompt (issue 14).

``make play`` (after the install) runs ``mirrorneuron play``; its first run harvests the default model
(``tiny-gelu``) before the first round can be drawn. This starts ``mirrorneuron play --terminal`` in a pty
(pexpect) with a fresh home and times until the first round's ``your guess`` prompt is on screen, then kills it.
The browser game (the default of ``play``) prepares the same harvest through the same ``ensure_harvest``: since
round 3 of issue 14 it starts on a thread when ``play`` starts, beside the server (``cli_play.harvest_ahead``), and
the first game waits for it; the terminal prompt is what can be timed without a browser.

Measured in the same run, interleaved, ``--repeats`` times each (median reported):

- ``first_round_seconds``: fresh home (the default harvest is made, with the token windows shipped next to the
  model, ``harvest/bundled.py``);
- ``without_shipped_windows_seconds``: fresh home, the shipped windows ignored (the corpus is tokenised: the
  state before issue 14);
- ``warm_start_seconds``: the same home again (harvest present): the floor set by start-up, imports, model load;
- ``openmp_active_seconds``: fresh home with ``OMP_WAIT_POLICY=ACTIVE`` (OpenMP's busy waiting, torch's default
  before the CLI set ``PASSIVE``, ``cli.main``).

The other runs get this process's environment without any ``OMP_WAIT_POLICY`` (the CLI's default applies).

Last line: one JSON object. ``.venv/bin/python benchmarks/first_start.py [--repeats 3]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pexpect

PROMPT = r"your guess"
NO_BUNDLE = (
    "import mirrorneuron.harvest.run as r; r.bundled_inputs = lambda *a: None; "
    "import sys; from mirrorneuron.cli import main; sys.argv = ['mirrorneuron', *sys.argv[1:]]; main()"
)


def log(msg: str) -> None:
    print(f"[bench] {msg}", flush=True)


def time_to_first_round(
    home: Path, timeout: float = 300, shipped_windows: bool = True, omp_wait_policy: str | None = None
) -> float:
    """Seconds from spawning ``mirrorneuron play --terminal`` (home ``home``) until the first guess prompt."""
    args = ["-m", "mirrorneuron"] if shipped_windows else ["-c", NO_BUNDLE]
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    env |= {"MIRRORNEURON_HOME": str(home), "COLUMNS": "120", "TERM": "dumb"}
    if omp_wait_policy:
        env["OMP_WAIT_POLICY"] = omp_wait_policy
    t0 = time.perf_counter()
    child = pexpect.spawn(
        sys.executable, [*args, "play", "--terminal", "--seed", "1"], env=env, encoding="utf-8", timeout=timeout
    )
    try:
        child.expect([PROMPT])
        return time.perf_counter() - t0
    except pexpect.EOF:
        raise RuntimeError(f"mirrorneuron play exited before the first round:\n{child.before}") from None
    finally:
        child.terminate(force=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=300)
    args = ap.parse_args()
    secs: dict[str, list[float]] = {"first": [], "no_bundle": [], "active": [], "warm": []}
    fresh = ["first", "no_bundle", "active"]
    for r in range(args.repeats):
        homes = {k: Path(tempfile.mkdtemp(prefix=f"mn-first-{k}-")) for k in fresh}
        try:
            order = [*fresh[r % 3 :], *fresh[: r % 3]]
            order.insert(order.index("first") + 1, "warm")  # warm: the home "first" just made, right after it
            for kind in order:
                home = homes["first"] if kind == "warm" else homes[kind]
                policy = "ACTIVE" if kind == "active" else None
                secs[kind].append(time_to_first_round(home, args.timeout, kind != "no_bundle", policy))
            log(f"repeat {r + 1}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in secs.items()))
        finally:
            for h in homes.values():
                shutil.rmtree(h, ignore_errors=True)
    med = {k: round(statistics.median(v), 2) for k, v in secs.items()}
    load = os.getloadavg()[0]
    print(
        json.dumps(
            {
                "bench": "first_start",
                "first_round_seconds": med["first"],
                "without_shipped_windows_seconds": med["no_bundle"],
                "warm_start_seconds": med["warm"],
                "openmp_active_seconds": med["active"],
                "goal_first_round_seconds": 5.0,
                "runs": {k: [round(x, 2) for x in v] for k, v in secs.items()},
                "repeats": args.repeats,
                "load_average_1min": round(load, 2),
                "cpus": os.cpu_count(),
            }
        )
    )


if __name__ == "__main__":
    main()
