"""Exports: one row per guess joined with its round, game and player, as Parquet or CSV (DESIGN.md §4).

Each row carries how its game was drawn (design, seed, client, unit policy), which bot (and version) made a bot
guess, and both scores: the closeness ``score`` and the insight ``points`` with their formula version."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from sqlalchemy import select
from sqlalchemy.orm import Session

from mirrorneuron.store.models import Game, Guess, Player, Round, Unit

SCHEMA = pa.schema(
    [
        ("guess_id", pa.int64()),
        ("guessed_at", pa.timestamp("us", tz="UTC")),
        ("player_id", pa.string()),
        ("player_name", pa.string()),
        ("player_kind", pa.string()),
        ("bot_name", pa.string()),
        ("bot_version", pa.string()),
        ("study_id", pa.string()),
        ("game_id", pa.string()),
        ("feedback", pa.bool_()),
        ("practice", pa.bool_()),
        ("design", pa.string()),
        ("seed", pa.int64()),
        ("client", pa.string()),
        ("policy", pa.string()),
        ("round_id", pa.string()),
        ("seq", pa.int64()),
        ("model_id", pa.string()),
        ("unit_id", pa.string()),
        ("level", pa.int64()),
        ("example_id", pa.string()),
        ("example_index", pa.int64()),
        ("source", pa.string()),
        ("weight", pa.float64()),
        ("scale", pa.float64()),
        ("actual", pa.float64()),
        ("guess", pa.float64()),
        ("score", pa.float64()),
        ("points", pa.float64()),
        ("points_version", pa.string()),
        ("seconds", pa.float64()),
    ]
)


def guesses_table(s: Session, study_id: str | None = None) -> pa.Table:
    """Every guess (or a study's) with its round, game and player; columns as in :data:`SCHEMA`."""
    stmt = (
        select(
            Guess.id,
            Guess.created_at,
            Player.id,
            Player.display_name,
            Player.kind,
            Player.bot_name,
            Player.bot_version,
            Game.study_id,
            Game.id,
            Game.feedback,
            Game.practice,
            Game.design,
            Game.seed,
            Game.client,
            Game.policy,
            Round.id,
            Round.seq,
            Unit.model_id,
            Round.unit_id,
            Round.level,
            Round.example_id,
            Round.example_index,
            Round.source,
            Round.weight,
            Round.scale,
            Round.actual,
            Guess.value,
            Guess.score,
            Guess.points,
            Guess.points_version,
            Guess.seconds,
        )
        .join(Round, Round.id == Guess.round_id)
        .join(Game, Game.id == Round.game_id)
        .join(Player, Player.id == Guess.player_id)
        .join(Unit, Unit.id == Round.unit_id)
        .order_by(Guess.id)
    )
    if study_id is not None:
        stmt = stmt.where(Game.study_id == study_id)
    rows = s.execute(stmt).all()
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in SCHEMA]
    return pa.Table.from_arrays(
        [pa.array(list(col), type=field.type) for col, field in zip(columns, SCHEMA, strict=True)], schema=SCHEMA
    )


def write_export(table: pa.Table, path: str | Path, fmt: Literal["parquet", "csv"] = "parquet") -> Path:
    """Write ``table`` to ``path`` atomically (a temporary file renamed into place) and return the path."""
    if fmt not in ("parquet", "csv"):
        raise ValueError(f"export format must be 'parquet' or 'csv', got {fmt!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        if fmt == "parquet":
            pq.write_table(table, tmp)
        else:
            pacsv.write_csv(table, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
