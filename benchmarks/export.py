"""The data API and exports against their baseline, ``load_rounds`` (the fits' lean loader), in the same run.

Simulated gameplay is written to a fresh SQLite store, every example is given a 64-token text payload (so the
example join has real text to decode), then timed (best of two): ``load_rounds``; ``analysis.load`` without and
with examples; ``mirrorneuron export``'s writer in each format (one run each). Last line: one JSON object.

    python benchmarks/export.py [--players 1000]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import update

from mirrorneuron import analysis
from mirrorneuron.analysis.load import load_rounds
from mirrorneuron.analysis.simstore import write_simulation
from mirrorneuron.analysis.simulate import SimConfig, simulate
from mirrorneuron.store.db import make_engine, migrate
from mirrorneuron.store.export import FORMATS, Gameplay, write_batches
from mirrorneuron.store.models import Example

WORDS = [" the", " cat", " sat", " on", " a", " mat", " and", " then"] * 8


def best(f: Callable[[], Any], reps: int = 2) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(reps):
        t = time.perf_counter()
        out = f()
        times.append(time.perf_counter() - t)
    return min(times), out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--players", type=int, default=1000)
    args = ap.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="mn-export-"))
    engine = make_engine(f"sqlite:///{folder / 'bench.db'}")
    migrate(engine)
    sim = simulate(SimConfig(n_players=args.players, n_units=200, games_per_player=4, seed=1))
    write_simulation(engine, sim, chunk_games=2000)
    with engine.begin() as conn:
        conn.execute(update(Example).values(payload={"kind": "text", "tokens": WORDS, "target": 40}))
    res: dict[str, Any] = {"bench": "export", "rows": sim.n_rounds}
    res["load_rounds_seconds"], _ = best(lambda: load_rounds(engine))
    res["load_no_examples_seconds"], _ = best(lambda: analysis.load(engine, with_examples=False))
    res["load_seconds"], df = best(lambda: analysis.load(engine))
    assert len(df) == sim.n_rounds and df["text"].notna().all()
    for fmt in FORMATS:
        path = folder / f"gameplay.{fmt}"

        def export(fmt: str = fmt, path: Path = path) -> int:
            with engine.connect() as conn:
                gameplay = Gameplay(conn, nested=fmt != "csv")
                return write_batches(gameplay.schema, gameplay.batches(), path, fmt)

        res[f"export_{fmt}_seconds"], n = best(export, 1)
        assert n == sim.n_rounds
        res[f"export_{fmt}_mb"] = path.stat().st_size / 1e6
    res["load_ratio_vs_load_rounds"] = res["load_seconds"] / res["load_rounds_seconds"]
    engine.dispose()
    print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in res.items()}))


if __name__ == "__main__":
    main()
