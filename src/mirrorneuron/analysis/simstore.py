"""Write a :class:`~mirrorneuron.analysis.simulate.Simulation` into the real gameplay store (SQLite or
Postgres) with SQLAlchemy Core bulk inserts: one model, its units and examples, players, games, rounds and
guesses, in play order (guess ids ascend with play, as in real gameplay).

Each round's true value is drawn at random and the guess is placed so that the round's score — computed by
:func:`mirrorneuron.game.scoring.round_score`, the one scorer — is the simulated outcome × 100. Simulated
games are recorded with ``design="simulated"`` and ``policy="simulator"`` so they are never mistaken for play.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import numpy as np
from sqlalchemy import JSON, Connection, Engine, Table, insert
from sqlalchemy.types import TypeEngine

from mirrorneuron.analysis.simulate import Simulation
from mirrorneuron.game.scoring import round_score
from mirrorneuron.store.catalog import ensure_examples, ensure_model, ensure_unit
from mirrorneuron.store.db import session_factory
from mirrorneuron.store.models import Game, Guess, Player, Round

SITE = "blocks.0.mlp.post"
N_EXAMPLES = 64
DESIGN = "simulated"

_players, _games, _rounds, _guesses = (cast(Table, t.__table__) for t in (Player, Game, Round, Guess))


@dataclass(frozen=True)
class StoredSimulation:
    """Where a simulation went: its ids in the store (index i of ``player_ids`` is player code i, and so on)."""

    model_id: str
    player_ids: list[str]
    unit_ids: list[str]
    n_rounds: int


def _scales(n_units: int, rng: np.random.Generator) -> np.ndarray:
    return np.exp(rng.normal(0.0, 0.5, n_units))  # units differ in range; scores are scale-free


def write_simulation(
    engine: Engine, sim: Simulation, *, tag: str | None = None, chunk_games: int = 5000
) -> StoredSimulation:
    """Store every round of ``sim``; ``tag`` (default random) keeps ids apart from other simulations."""
    tag = tag or secrets.token_hex(4)
    c = sim.config
    rng = np.random.default_rng(c.seed + 1)
    model_id = f"sim-{tag}"
    unit_ids = [f"{model_id}/{SITE}/neuron/{j}" for j in range(c.n_units)]
    player_ids = [f"sim-{tag}-p{i}" for i in range(c.n_players)]
    example_ids = [f"{model_id}-ex{k}" for k in range(N_EXAMPLES)]
    scales = _scales(c.n_units, rng)
    t0 = datetime.now(UTC)
    with session_factory(engine)() as s:  # the catalogue through the store's own (idempotent) functions
        ensure_model(s, model_id, "text", "simulated")
        for j, uid in enumerate(unit_ids):
            ensure_unit(s, uid, model_id, SITE, "neuron", j, {"scale": float(scales[j]), "simulated": True})
        ensure_examples(
            s,
            model_id,
            [{"id": e, "harvest_index": k, "payload": {"simulated": True}} for k, e in enumerate(example_ids)],
        )
        s.commit()
    with engine.begin() as conn:
        bulk_insert(conn, _players, [{"id": p, "kind": "human", "created_at": t0} for p in player_ids])
    r = c.rounds_per_game
    n_games = int(sim.game.max()) + 1 if sim.n_rounds else 0
    for g0 in range(0, n_games, chunk_games):
        g1 = min(g0 + chunk_games, n_games)
        lo, hi = g0 * r, g1 * r  # rounds are stored game by game, r per game
        games, rounds, guesses = _rows(sim, lo, hi, tag, player_ids, unit_ids, example_ids, scales, t0, rng)
        with engine.begin() as conn:
            bulk_insert(conn, _games, games)
            bulk_insert(conn, _rounds, rounds)
            bulk_insert(conn, _guesses, guesses)
    return StoredSimulation(model_id, player_ids, unit_ids, sim.n_rounds)


def _processor(col_type: TypeEngine[Any], conn: Connection) -> Callable[[Any], Any] | None:
    proc = col_type.bind_processor(conn.dialect)
    if proc is None and isinstance(col_type, JSON):  # psycopg's dialect adapts JSON in its own executemany
        return json.dumps
    return proc


def bulk_insert(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """INSERT ``rows`` (dicts with the same keys) with one driver-level ``executemany`` of the Core INSERT
    compiled for the connection's dialect. Values pass through each column type's bind processor (UTC
    datetimes, JSON, booleans), but not through SQLAlchemy's per-row parameter machinery (5× faster)."""
    if not rows:
        return
    keys = list(rows[0])
    compiled = insert(table).compile(dialect=conn.dialect, column_keys=keys)
    procs = {k: _processor(table.c[k].type, conn) for k in keys}
    order = list(compiled.positiontup) if compiled.positional and compiled.positiontup else keys
    funcs = [procs[k] for k in order]
    if not compiled.positional:
        params: list[Any] = [{k: (f(r[k]) if f else r[k]) for k, f in zip(order, funcs, strict=True)} for r in rows]
    else:
        params = [tuple(f(r[k]) if f else r[k] for k, f in zip(order, funcs, strict=True)) for r in rows]
    conn.exec_driver_sql(compiled.string, params)


def _rows(
    sim: Simulation,
    lo: int,
    hi: int,
    tag: str,
    player_ids: list[str],
    unit_ids: list[str],
    example_ids: list[str],
    scales: np.ndarray,
    t0: datetime,
    rng: np.random.Generator,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """The games, rounds and guesses rows of rounds ``lo:hi`` (whole games)."""
    player, unit, level = sim.player[lo:hi], sim.unit[lo:hi], sim.level[lo:hi]
    game, seq, outcome = sim.game[lo:hi], sim.seq[lo:hi], sim.outcome[lo:hi]
    scale = scales[unit]
    actual = rng.normal(0.0, 0.3, hi - lo) * scale
    sign = np.where(rng.random(hi - lo) < 0.5, -1.0, 1.0)
    guess = actual + sign * (1.0 - outcome) * scale
    example = rng.integers(0, len(example_ids), hi - lo)
    seconds = rng.uniform(2.0, 20.0, hi - lo)
    games: list[dict[str, Any]] = []
    rounds: list[dict[str, Any]] = []
    guesses: list[dict[str, Any]] = []
    for i in range(hi - lo):
        g = int(game[i])
        when = t0 + timedelta(seconds=lo + i)
        gid, rid = f"{tag}g{g:x}", f"{tag}r{lo + i:x}"
        pid, uid = player_ids[player[i]], unit_ids[unit[i]]
        if seq[i] == 0:
            games.append(
                {
                    "id": gid, "player_id": pid, "unit_id": uid, "level": int(level[i]), "feedback": True,
                    "study_id": None, "seed": sim.config.seed, "practice": False, "design": DESIGN,
                    "client": "cli", "policy": "simulator", "created_at": when,
                }
            )  # fmt: skip
        a, sc, v = float(actual[i]), float(scale[i]), float(guess[i])
        rounds.append(
            {
                "id": rid, "game_id": gid, "seq": int(seq[i]), "unit_id": uid, "example_id": example_ids[example[i]],
                "example_index": int(example[i]), "level": int(level[i]), "source": "random", "weight": 1.0,
                "scale": sc, "token": secrets.token_urlsafe(12), "payload": {"simulated": True}, "actual": a,
                "created_at": when,
            }
        )  # fmt: skip
        guesses.append(
            {
                "player_id": pid, "round_id": rid, "value": v, "score": round_score(v, a, sc),
                "seconds": float(seconds[i]), "created_at": when,
            }
        )  # fmt: skip
    return games, rounds, guesses
