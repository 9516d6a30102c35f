"""The skill × difficulty fit at the issue's scale: 10M responses, 100k players × 20k units, end to end.

1. generate: simulate 10M rounds with planted skills, difficulties, level effects and practice;
2. store: write a subset (the first ``--store-players`` players' games, whole games) into a fresh SQLite
   store through :func:`write_simulation` (Core bulk inserts). Writing all 10M rows (30M rows in three
   tables) into SQLite takes too long for a benchmark, so only the subset goes through the store;
3. load: read that subset back with :func:`load_rounds` (one streamed query) and check it is the simulated
   rounds, fitting it both ways (from the store and from the arrays) to show the store path changes nothing;
4. fit: the full 10M arrays with :func:`fit_arrays` (estimates and 95 % intervals), scored against the truth.

Baseline in the same run: scipy ``lsqr`` on the sparse design matrix of the first 1M rounds (skill, difficulty,
level and practice columns; estimates only, no intervals) against our fit on the same 1M rounds.
``load_seconds`` is for the stored subset only (``load_rounds`` rows reported). Last line: one JSON object.
Run: ``.venv/bin/python benchmarks/analysis.py [--players 100000 --units 20000 --store-players 2000]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.linalg import lsqr

from mirrorneuron.analysis.finder_eval import evaluate_finders
from mirrorneuron.analysis.fit import fit_arrays, fit_skill_difficulty
from mirrorneuron.analysis.load import load_rounds
from mirrorneuron.analysis.simstore import write_simulation
from mirrorneuron.analysis.simulate import BEST_FINDER, SimConfig, Simulation, planted_finders, recovery, simulate
from mirrorneuron.store.db import make_engine, migrate


def subset(sim: Simulation, n_players: int) -> Simulation:
    """The rounds of players ``0 … n_players − 1`` (they come first: games are in player order)."""
    n = int(np.searchsorted(sim.player, n_players))
    cut = {f: getattr(sim, f)[:n] for f in ("player", "unit", "level", "prior", "outcome", "game", "seq")}
    return dataclasses.replace(sim, **cut)


def lsqr_baseline(sim: Simulation, n: int) -> float:
    """Seconds for scipy lsqr on the sparse design of the first ``n`` rounds (the same model, no intervals)."""
    p, u, lv, x, y = sim.player[:n], sim.unit[:n], sim.level[:n], np.log1p(sim.prior[:n]), sim.outcome[:n]
    n_p, n_u, n_l = int(p.max()) + 1, sim.config.n_units, len(sim.config.level_effect)
    t = time.perf_counter()
    rows = np.arange(n)
    design = sp.hstack(
        [
            sp.csr_matrix((np.ones(n), (rows, p)), shape=(n, n_p)),
            sp.csr_matrix((-np.ones(n), (rows, u)), shape=(n, n_u)),
            sp.csr_matrix((np.ones(n), (rows, lv)), shape=(n, n_l))[:, 1:],
            sp.csr_matrix(np.c_[np.ones(n), x]),
        ]
    ).tocsr()
    lsqr(design, y, damp=1e-3, atol=1e-8, btol=1e-8, iter_lim=5000)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--players", type=int, default=100_000)
    ap.add_argument("--units", type=int, default=20_000)
    ap.add_argument("--games", type=float, default=10.0, help="mean games per player (10 rounds each)")
    ap.add_argument("--store-players", type=int, default=2000, help="players whose games go through the store")
    ap.add_argument("--baseline-rounds", type=int, default=1_000_000)
    args = ap.parse_args()
    c = SimConfig(n_players=args.players, n_units=args.units, games_per_player=args.games, seed=0)

    t = time.perf_counter()
    sim = simulate(c)
    generate_s = time.perf_counter() - t
    print(f"generated {sim.n_rounds:,} rounds in {generate_s:.1f} s (clipped {sim.clipped:.3%})", flush=True)

    part = subset(sim, args.store_players)
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'bench.db'}")
        migrate(engine)
        t = time.perf_counter()
        stored = write_simulation(engine, part, tag="bench")
        store_s = time.perf_counter() - t
        print(f"stored {part.n_rounds:,} rounds (3 rows each) in {store_s:.1f} s", flush=True)
        t = time.perf_counter()
        df = load_rounds(engine)
        load_s = time.perf_counter() - t
        engine.dispose()
    assert len(df) == part.n_rounds and np.allclose(df["outcome"].to_numpy(), part.outcome, atol=1e-9)
    assert np.array_equal(df["prior_rounds"].to_numpy(), part.prior)
    print(f"loaded {len(df):,} rounds in {load_s:.1f} s", flush=True)
    from_store = fit_skill_difficulty(df).units.set_index("unit_id")["difficulty"]
    direct = fit_arrays(part.player, part.unit, part.level, part.outcome, part.prior, n_units=c.n_units, n_levels=4)
    played = [f"{stored.model_id}/blocks.0.mlp.post/neuron/{j}" for j in range(c.n_units)]
    store_vs_arrays = float(
        np.max(np.abs(from_store.reindex(played).to_numpy() - direct.difficulty)[direct.unit_rounds > 0])
    )

    n_base = min(args.baseline_rounds, sim.n_rounds)
    base_s = lsqr_baseline(sim, n_base)
    t = time.perf_counter()
    fit_arrays(sim.player[:n_base], sim.unit[:n_base], sim.level[:n_base], sim.outcome[:n_base], sim.prior[:n_base],
               n_units=c.n_units, n_levels=4)  # fmt: skip
    ours_base_s = time.perf_counter() - t

    t = time.perf_counter()
    fit = fit_arrays(sim.player, sim.unit, sim.level, sim.outcome, sim.prior,
                     n_players=c.n_players, n_units=c.n_units, n_levels=4)  # fmt: skip
    fit_s = time.perf_counter() - t
    rec = recovery(sim, fit)

    # finder evaluation on the fitted difficulties: the planted best finder must rank first; interest
    # (replays, completion, time) comes from the stored rounds, so units are named as in the store
    t = time.perf_counter()
    names = dict(zip(sim.unit_ids(), played, strict=True))
    finders = planted_finders(sim).assign(unit_id=lambda f: f["unit_id"].map(names))
    fitted = pd.DataFrame({"unit_id": played, "difficulty": fit.difficulty})
    ranking = evaluate_finders(finders, fitted, df, n_boot=200)
    finder_s = time.perf_counter() - t
    print(ranking.to_string(index=False), flush=True)
    print(
        json.dumps(
            {
                "bench": "analysis",
                "n_rounds": sim.n_rounds,
                "n_players": c.n_players,
                "n_units": c.n_units,
                "fit_seconds": round(fit_s, 2),
                "fit_iterations": fit.iterations,
                "converged": fit.converged,
                "load_seconds": round(load_s, 2),
                "load_rounds": len(df),
                "store_seconds": round(store_s, 2),
                "generate_seconds": round(generate_s, 2),
                "store_vs_arrays_max_abs_diff": store_vs_arrays,
                "difficulty_spearman": round(rec.difficulty_spearman, 4),
                "skill_spearman": round(rec.skill_spearman, 4),
                "interval_coverage": round(rec.interval_coverage, 4),
                "finder_ranking": [str(f) for f in ranking["finder"]],
                "planted_best_finder_first": bool(ranking["finder"].iloc[0] == BEST_FINDER),
                "finder_eval_seconds": round(finder_s, 2),
                "difficulty_coverage": round(rec.difficulty_coverage, 4),
                "skill_coverage": round(rec.skill_coverage, 4),
                "level_max_abs_z": round(float(np.max(np.abs(rec.level_z))), 2),
                "beta_error": rec.beta_error,
                "baseline_rounds": n_base,
                "lsqr_seconds_no_intervals": round(base_s, 2),
                "ours_seconds_same_rounds_with_intervals": round(ours_base_s, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
