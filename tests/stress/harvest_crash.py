"""Harvest crash: kill -9 ``mirrorneuron harvest`` at random points and resume it each time. Every resumed cache
must equal an uninterrupted run's (the manifest but its run time and ``last_run``, every tensor of every file),
and every resume must skip the shards its saved state covers (their files keep their inode and mtime: atomic
writes replace a file, so a recomputed shard gets a new one; and ``last_run`` names exactly the shards after).

    python tests/stress/harvest_crash.py [--kills 20] [--seed 0] [--work DIR] [--home DIR]

Kill points: a trial picks a point uniformly in "shards still to write" (its whole part: wait until the run
has written that many shard files; its fraction: then sleep that fraction of a shard's time), so kills land
in start-up, inside forward passes, and inside shard and state writes. Half the trials kill the resumed run once
more before letting it finish. Without --home the script trains a small tiny-gelu (30 steps) into a temporary
home. The last line printed is one line of JSON with the figures (docs/reliability.md, "Harvest crash").
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from safetensors.numpy import load_file

MODEL = "tiny-gelu"
ARGS = ["--max-windows", "32", "--batch-size", "2", "--shard-windows", "4"]  # 8 shards, both MLP sites
Point = tuple[int, dict[int, tuple[int, int]]]  # (next shard of the saved state, shard -> (inode, mtime_ns))


def harvest_cmd(out: Path) -> list[str]:
    return [sys.executable, "-m", "mirrorneuron", "harvest", MODEL, *ARGS, "--out", str(out)]


def saved_point(out: Path) -> Point:
    """Where a resume of ``out`` starts (0 without a saved state) and the identity of each shard file."""
    state = out / "state.safetensors"
    next_shard = int(load_file(str(state))["next_shard"][0]) if state.exists() else 0
    files = (
        {int(p.name.split(".")[0]): p.stat() for p in (out / "shards").glob("*.safetensors")} if out.exists() else {}
    )
    return next_shard, {k: (st.st_ino, st.st_mtime_ns) for k, st in files.items()}


def skipped_problems(out: Path, point: Point) -> list[str]:
    """The shards before the saved point that a later run rewrote (none, when resumption skips them)."""
    now = saved_point(out)[1]
    return [f"shard {k} was recomputed" for k in range(point[0]) if now.get(k) != point[1].get(k)]


def cache_differences(a: Path, b: Path) -> list[str]:
    """How cache ``b`` differs from ``a``: manifest (but run time and last_run), file set, any tensor's bytes."""
    ma, mb = (json.loads((p / "manifest.json").read_text()) for p in (a, b))
    drop = ("seconds", "last_run")
    diffs = [f"manifest {k}" for k in ma.keys() | mb.keys() if k not in drop and ma.get(k) != mb.get(k)]
    fa, fb = ({str(p.relative_to(r)) for p in r.rglob("*.safetensors")} for r in (a, b))
    diffs += [f"file {f} only in one" for f in fa ^ fb]
    for f in sorted(fa & fb):
        ta, tb = load_file(str(a / f)), load_file(str(b / f))
        for k in ta.keys() | tb.keys():
            x, y = ta.get(k), tb.get(k)
            if x is None or y is None or x.dtype != y.dtype or x.shape != y.shape or x.tobytes() != y.tobytes():
                diffs.append(f"{f} {k}")
    return diffs


def shard_writes(out: Path, before: dict[int, tuple[int, int]]) -> int:
    return sum(1 for k, ident in saved_point(out)[1].items() if before.get(k) != ident)


def run_killed(out: Path, env: dict[str, str], target: float, shard_s: float, startup_s: float) -> str:
    """Start a harvest of ``out`` and kill -9 it once it has written ``floor(target)`` shard files and a further
    ``frac(target)`` of a shard's time (of the start-up and a shard's, before the first) has passed. Returns where
    the kill landed, or "finished" if it did not."""
    before = saved_point(out)[1]
    proc = subprocess.Popen(harvest_cmd(out), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    whole, frac = int(target), target - int(target)
    while proc.poll() is None and shard_writes(out, before) < whole:
        time.sleep(0.002)
    time.sleep(frac * (shard_s + (startup_s if whole == 0 else 0.0)))
    if proc.poll() is not None:
        return "finished"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    if not (out / "manifest.json").exists():
        return "start-up"
    return "mid-write" if any(out.rglob("*.tmp")) else ("before first state" if saved_point(out)[0] == 0 else "mid-run")


def crash_trials(kills: int, seed: int, work: Path, env: dict[str, str]) -> dict[str, Any]:
    """Run trials until ``kills`` kills have landed; returns the figures (see the module docstring)."""
    t0 = time.perf_counter()
    rng = random.Random(seed)
    clean = work / "clean"
    subprocess.run(harvest_cmd(clean), env=env, check=True, capture_output=True)
    manifest = json.loads((clean / "manifest.json").read_text())
    n_shards, shard_s = manifest["n_shards"], manifest["seconds"] / manifest["n_shards"]
    startup_s = time.perf_counter() - t0 - manifest["seconds"]  # interpreter, imports, model, inputs
    figures: dict[str, Any] = {"kills": 0, "trials": 0, "identical": 0, "late": 0, "where": {}, "problems": []}
    figures |= {"shards_skipped": 0, "shards_computed_on_resume": 0, "leftover_tmp_files": 0}
    while figures["kills"] < kills:
        out, figures["trials"] = work / f"trial{figures['trials']}", figures["trials"] + 1
        for attempt in range(1 if kills - figures["kills"] == 1 else rng.choice([1, 2])):
            point = saved_point(out)
            where = run_killed(out, env, rng.uniform(0, n_shards - point[0] - 0.1), shard_s, startup_s)
            if where == "finished":  # the run ended before the kill point: not a kill
                figures["late"] += 1
                break
            figures["kills"] += 1
            figures["where"][where] = figures["where"].get(where, 0) + 1
            if attempt:  # this kill hit a resumed run: it too had left the saved shards alone
                figures["problems"] += skipped_problems(out, point)
        if where != "finished":  # resume to the end (else the run that finished was the resume, from `point`)
            point = saved_point(out)
            subprocess.run(harvest_cmd(out), env=env, check=True, capture_output=True)
        last = json.loads((out / "manifest.json").read_text()).get("last_run", {})
        if last != {"first_shard": point[0], "computed_shards": list(range(point[0], n_shards))}:
            figures["problems"].append(f"trial {figures['trials']}: last_run {last}, saved point {point[0]}")
        figures["problems"] += skipped_problems(out, point)
        figures["shards_skipped"] += point[0]
        figures["shards_computed_on_resume"] += n_shards - point[0]
        diffs = cache_differences(clean, out)
        figures["problems"] += [f"trial {figures['trials']}: {d}" for d in diffs]
        figures["identical"] += not diffs
        figures["leftover_tmp_files"] += sum(1 for _ in out.rglob("*.tmp"))
        print(f"trial {figures['trials']}: kills so far {figures['kills']}, resumed from shard {point[0]}, "
              f"{diffs or 'identical'}", flush=True)  # fmt: skip
        if not diffs:
            shutil.rmtree(out)
    return figures | {
        "n_shards": n_shards,
        "clean_run_s": manifest["seconds"],
        "seconds": round(time.perf_counter() - t0, 1),
    }


def _home_with_model(home: Path) -> None:
    from mirrorneuron.models.train import train
    from mirrorneuron.models.zoo import REGISTRY

    train(REGISTRY[MODEL].model_copy(update={"steps": 30}), home / "zoo" / MODEL)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--work", type=Path, default=None, help="folder for the harvests (default: a temporary one)")
    ap.add_argument("--home", type=Path, default=None, help="MIRRORNEURON_HOME holding tiny-gelu (default: train one)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="harvest-crash-") as tmp:
        home = args.home or Path(tmp) / "home"
        if args.home is None:
            _home_with_model(home)
        work = args.work or Path(tmp) / "work"
        work.mkdir(parents=True, exist_ok=True)
        figures = crash_trials(args.kills, args.seed, work, {**os.environ, "MIRRORNEURON_HOME": str(home)})
    ok = not figures["problems"] and figures["identical"] == figures["trials"]
    print(json.dumps({"bench": "harvest_crash", "ok": ok, **figures}))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
