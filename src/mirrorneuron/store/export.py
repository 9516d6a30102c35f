"""Exports of raw gameplay: one row per guess joined with its round, game, player, unit, level, model and example.

:data:`SCHEMA` is the study export's table (``guesses_table``, the web's ``export.parquet|csv``): how each game
was drawn (design, seed, client, unit policy), which bot (and version) made a bot guess, and both scores (the
closeness ``score`` and the insight ``points`` with their formula version). :class:`Gameplay` streams the
full join for ``mirrorneuron export`` and ``analysis.load``: SCHEMA's columns, then the unit (``site``,
``unit_kind``, ``unit_index``), ``level_name``, the model (``modality`` and each ``models.attributes`` key as
``model_<key>``) and, optionally, the example itself (:data:`EXAMPLE_FIELDS`). Examples are read by a second
query over the distinct examples of each batch and broadcast by index, so their text costs one decode per
example, not per row. This is the researcher's export: the truth is in ``actual`` (and nowhere else).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from sqlalchemy import Connection, Select, Table, func, select
from sqlalchemy.orm import Session

from mirrorneuron.game.levels import Level
from mirrorneuron.store.errors import NotFound
from mirrorneuron.store.models import Example, Game, Guess, Model, Player, Round, Study, Unit

FORMATS = ("parquet", "csv", "jsonl")
PLAYERS = ("all", "human", "bot")
CHUNK = 50_000
IN_CHUNK = 1000  # ids per IN (…) lookup: well under every backend's bound-parameter limit
MARK_OPEN, MARK_CLOSE = "[[", "]]"  # the target token's marks, as in the LLM bot's prompt (players.prompt)
LEVEL_NAMES = {int(lv): lv.name.lower() for lv in Level}

_g, _r, _gm, _p, _u, _m, _e, _s = (
    cast(Table, t.__table__) for t in (Guess, Round, Game, Player, Unit, Model, Example, Study)
)
_COLUMNS: list[tuple[str, Any, pa.DataType]] = [
    ("guess_id", _g.c.id, pa.int64()),
    ("guessed_at", _g.c.created_at, pa.timestamp("us", tz="UTC")),
    ("player_id", _p.c.id, pa.string()),
    ("player_name", _p.c.display_name, pa.string()),
    ("player_kind", _p.c.kind, pa.string()),
    ("bot_name", _p.c.bot_name, pa.string()),
    ("bot_version", _p.c.bot_version, pa.string()),
    ("study_id", _gm.c.study_id, pa.string()),
    ("game_id", _gm.c.id, pa.string()),
    ("feedback", _gm.c.feedback, pa.bool_()),
    ("practice", _gm.c.practice, pa.bool_()),
    ("design", _gm.c.design, pa.string()),
    ("seed", _gm.c.seed, pa.int64()),
    ("client", _gm.c.client, pa.string()),
    ("policy", _gm.c.policy, pa.string()),
    ("round_id", _r.c.id, pa.string()),
    ("seq", _r.c.seq, pa.int64()),
    ("model_id", _u.c.model_id, pa.string()),
    ("unit_id", _r.c.unit_id, pa.string()),
    ("level", _r.c.level, pa.int64()),
    ("example_id", _r.c.example_id, pa.string()),
    ("example_index", _r.c.example_index, pa.int64()),
    ("source", _r.c.source, pa.string()),
    ("weight", _r.c.weight, pa.float64()),
    ("scale", _r.c.scale, pa.float64()),
    ("actual", _r.c.actual, pa.float64()),
    ("guess", _g.c.value, pa.float64()),
    ("score", _g.c.score, pa.float64()),
    ("points", _g.c.points, pa.float64()),
    ("points_version", _g.c.points_version, pa.string()),
    ("seconds", _g.c.seconds, pa.float64()),
]
SCHEMA = pa.schema([(name, typ) for name, _, typ in _COLUMNS])
_JOINED: list[tuple[str, Any, pa.DataType]] = [
    *_COLUMNS,
    ("site", _u.c.site, pa.string()),
    ("unit_kind", _u.c.kind, pa.string()),
    ("unit_index", _u.c.index, pa.int64()),
    ("modality", _m.c.modality, pa.string()),
]
_AT = {name: i for i, (name, _, _) in enumerate(_JOINED)}
_LEVEL_AT = _AT["unit_index"] + 1  # level_name goes after the unit's columns
# (name, nested type, flat type): the flat one (JSON text) is what CSV gets
EXAMPLE_FIELDS: list[tuple[str, pa.DataType, pa.DataType]] = [
    ("example_kind", pa.string(), pa.string()),  # text | image (None: a payload of another shape)
    ("text", pa.string(), pa.string()),  # the window as the player saw it, target marked [[like this]]
    ("target_token", pa.string(), pa.string()),
    ("target", pa.int64(), pa.int64()),  # the target's position in tokens
    ("tokens", pa.list_(pa.string()), pa.string()),
    ("pixels", pa.list_(pa.list_(pa.float64())), pa.string()),  # image rows, values in [0, 1]
]


@dataclass(frozen=True)
class Selection:
    """Which guesses: of one study, one model, one player kind (``players``: all, human, bot), one game
    design; every filter optional, combined with AND."""

    study_id: str | None = None
    model_id: str | None = None
    players: str = "all"
    design: str | None = None

    def __post_init__(self) -> None:
        if self.players not in PLAYERS:
            raise ValueError(f"players must be one of {', '.join(PLAYERS)}, got {self.players!r}")

    def where(self, stmt: Select[Any]) -> Select[Any]:
        """``stmt`` (which joins games, players and units) with the selection's filters."""
        kind = None if self.players == "all" else self.players
        for col, value in (
            (_gm.c.study_id, self.study_id),
            (_u.c.model_id, self.model_id),
            (_p.c.kind, kind),
            (_gm.c.design, self.design),
        ):
            if value is not None:
                stmt = stmt.where(col == value)
        return stmt

    def check(self, conn: Connection) -> None:
        """NotFound when the study or model asked for is not in the store (a typo, not an empty selection)."""
        for what, table, value in (("study", _s, self.study_id), ("model", _m, self.model_id)):
            if value is not None and conn.execute(select(table.c.id).where(table.c.id == value)).first() is None:
                raise NotFound(f"no {what} {value!r} in the gameplay store")


def joined(*columns: Any) -> Select[Any]:
    """SELECT ``columns`` FROM guesses ⋈ rounds ⋈ games ⋈ players ⋈ units (the join every export shares)."""
    return (
        select(*columns)
        .select_from(_g)
        .join(_r, _r.c.id == _g.c.round_id)
        .join(_gm, _gm.c.id == _r.c.game_id)
        .join(_p, _p.c.id == _g.c.player_id)
        .join(_u, _u.c.id == _r.c.unit_id)
    )


def _attribute_array(values: list[Any]) -> pa.Array:
    """One attribute over the models: Arrow's inferred type, JSON text for nested values, text for a mix."""
    if any(isinstance(v, list | dict) for v in values):
        return pa.array([None if v is None else json.dumps(v) for v in values], pa.string())
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
        return pa.array([None if v is None else str(v) for v in values], pa.string())


def models_table(conn: Connection, model_id: str | None = None) -> pa.Table:
    """One row per model (or just ``model_id``): ``model_id``, ``modality`` and one column per attribute key."""
    stmt = select(_m.c.id, _m.c.modality, _m.c.attributes).order_by(_m.c.id)
    if model_id is not None:
        stmt = stmt.where(_m.c.id == model_id)
    rows = conn.execute(stmt).all()
    attrs = [r.attributes or {} for r in rows]
    keys = [k for k in dict.fromkeys(k for a in attrs for k in a) if k not in ("model_id", "modality")]
    cols = {
        "model_id": pa.array([r.id for r in rows], pa.string()),
        "modality": pa.array([r.modality for r in rows], pa.string()),
    }
    cols |= {k: _attribute_array([a.get(k) for a in attrs]) for k in keys}
    return pa.table(cols)


def example_fields(payload: Any) -> tuple[Any, ...]:
    """A stored example payload (``TextExample.to_dict()`` / ``ImageExample.to_dict()``) as the values of
    :data:`EXAMPLE_FIELDS`; a payload of another shape (e.g. simulated gameplay's) gives Nones."""
    if isinstance(payload, dict) and isinstance(payload.get("tokens"), list):
        tokens, t = [str(tok) for tok in payload["tokens"]], payload.get("target")
        if isinstance(t, int) and 0 <= t < len(tokens):
            text = "".join(tokens[:t]) + MARK_OPEN + tokens[t] + MARK_CLOSE + "".join(tokens[t + 1 :])
            return "text", text, tokens[t], t, tokens, None
    if isinstance(payload, dict) and isinstance(payload.get("pixels"), list):
        return "image", None, None, None, None, payload["pixels"]
    kind = payload.get("kind") if isinstance(payload, dict) else None
    return (kind if isinstance(kind, str) else None), None, None, None, None, None


def _positions(keys: Sequence[Any], values: Sequence[Any]) -> pa.Array:
    """Where each of ``values`` is in ``keys`` (null where absent): the indices that broadcast by ``take``."""
    where = {k: i for i, k in enumerate(keys)}
    return pa.array([where.get(v) for v in values], pa.int64())


class Gameplay:
    """The joined rows of a selection on ``conn``, streamed in play order (guess id) as Arrow record batches
    of one :attr:`schema`. ``nested=False`` writes the list columns (tokens, pixels) as JSON text (CSV)."""

    def __init__(
        self,
        conn: Connection,
        selection: Selection = Selection(),
        *,
        with_examples: bool = True,
        nested: bool = True,
        batch_size: int = CHUNK,
    ) -> None:
        selection.check(conn)
        self.conn, self.selection, self.batch_size = conn, selection, batch_size
        self.models = models_table(conn, selection.model_id)
        taken = {name for name, _, _ in _JOINED}
        self._attrs = [
            (n if (n := f"model_{k}") not in taken else f"model_attr_{k}", k) for k in self.models.column_names[2:]
        ]
        self._examples = [(n, nt if nested else ft) for n, nt, ft in EXAMPLE_FIELDS] if with_examples else []
        fields = [(name, typ) for name, _, typ in _JOINED]
        fields.insert(_LEVEL_AT, ("level_name", pa.string()))
        fields += [(name, self.models.column(key).type) for name, key in self._attrs]
        self.schema = pa.schema(fields + self._examples)

    def count(self) -> int:
        """How many rows :meth:`batches` yields."""
        stmt = self.selection.where(joined(func.count()).join(_m, _m.c.id == _u.c.model_id))
        return int(self.conn.execute(stmt).scalar_one())

    def batches(self) -> Iterator[pa.RecordBatch]:
        stmt = self.selection.where(joined(*(col for _, col, _ in _JOINED)).join(_m, _m.c.id == _u.c.model_id))
        result = self.conn.execution_options(stream_results=True, yield_per=self.batch_size).execute(
            stmt.order_by(_g.c.id)
        )
        for rows in result.partitions():
            yield self._batch(rows)

    def _batch(self, rows: Sequence[Any]) -> pa.RecordBatch:
        cols = list(zip(*rows, strict=True))
        arrays = [pa.array(col, typ) for col, (_, _, typ) in zip(cols, _JOINED, strict=True)]
        arrays.insert(_LEVEL_AT, pa.array([LEVEL_NAMES.get(lv) for lv in cols[_AT["level"]]], pa.string()))
        at = _positions(self.models.column("model_id").to_pylist(), cols[_AT["model_id"]])
        arrays += [self.models.column(key).combine_chunks().take(at) for _, key in self._attrs]
        if self._examples:
            arrays += self._example_arrays(cols[_AT["example_id"]])
        return pa.RecordBatch.from_arrays(arrays, schema=self.schema)

    def _example_arrays(self, example_ids: Sequence[str]) -> list[pa.Array]:
        distinct = list(dict.fromkeys(example_ids))
        payloads: dict[str, Any] = {}
        for start in range(0, len(distinct), IN_CHUNK):
            ids = distinct[start : start + IN_CHUNK]
            payloads.update(self.conn.execute(select(_e.c.id, _e.c.payload).where(_e.c.id.in_(ids))).tuples().all())
        values = list(zip(*(example_fields(payloads.get(i)) for i in distinct), strict=True))
        at = _positions(distinct, example_ids)
        out = []
        for (_, typ), vals in zip(self._examples, values, strict=True):
            if pa.types.is_string(typ) and not all(v is None or isinstance(v, str) for v in vals):
                vals = tuple(None if v is None else json.dumps(v) for v in vals)
            out.append(pa.array(vals, typ).take(at))
        return out


def guesses_table(s: Session, study_id: str | None = None) -> pa.Table:
    """Every guess (or a study's) with its round, game and player; columns as in :data:`SCHEMA`."""
    stmt = joined(*(col for _, col, _ in _COLUMNS)).order_by(_g.c.id)
    if study_id is not None:
        stmt = stmt.where(_gm.c.study_id == study_id)
    columns = list(zip(*s.execute(stmt).all(), strict=True)) or [() for _ in SCHEMA]
    return pa.Table.from_arrays(
        [pa.array(list(col), type=field.type) for col, field in zip(columns, SCHEMA, strict=True)], schema=SCHEMA
    )


def check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise ValueError(f"export format must be one of {', '.join(FORMATS)}, got {fmt!r}")


def _json_ready(batch: pa.RecordBatch) -> pa.RecordBatch:
    """``batch`` with timestamps as ISO 8601 text (UTC, ``Z``) and NaN as null, column by column."""
    cols = []
    for fld, col in zip(batch.schema, batch.columns, strict=True):
        if pa.types.is_timestamp(fld.type):
            fmt = "%Y-%m-%dT%H:%M:%SZ" if fld.type.tz == "UTC" else "%Y-%m-%dT%H:%M:%S%z"
            col = pc.strftime(col, format=fmt)
        elif pa.types.is_floating(fld.type):
            col = pc.if_else(pc.is_nan(col), pa.scalar(None, fld.type), col)
        cols.append(col)
    return pa.RecordBatch.from_arrays(cols, names=batch.schema.names)


@contextmanager
def _sink(path: Path, schema: pa.Schema, fmt: str) -> Iterator[Callable[[pa.RecordBatch], None]]:
    """A function writing one batch to ``path`` in ``fmt`` (parquet and csv through pyarrow's streaming
    writers; jsonl one JSON object a line, timestamps ISO 8601, NaN as null)."""
    if fmt == "jsonl":
        with path.open("w", encoding="utf-8") as f:

            def write_lines(batch: pa.RecordBatch) -> None:
                f.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in _json_ready(batch).to_pylist())

            yield write_lines
        return
    writer = pq.ParquetWriter(path, schema) if fmt == "parquet" else pacsv.CSVWriter(path, schema)
    with writer:
        yield writer.write_batch


def write_batches(
    schema: pa.Schema,
    batches: Iterator[pa.RecordBatch],
    path: str | Path,
    fmt: str = "parquet",
    on_rows: Callable[[int], None] | None = None,
) -> int:
    """Stream ``batches`` to ``path`` atomically (a temporary file renamed into place); the rows written.
    ``on_rows(n)`` is called after each batch. OSError if ``path`` cannot be written."""
    check_format(fmt)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    n = 0
    try:
        with _sink(tmp, schema, fmt) as write:
            for batch in batches:
                write(batch)
                n += batch.num_rows
                if on_rows is not None:
                    on_rows(batch.num_rows)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return n


def write_export(table: pa.Table, path: str | Path, fmt: str = "parquet") -> Path:
    """Write ``table`` to ``path`` atomically and return the path."""
    write_batches(table.schema, iter(table.to_batches()), path, fmt)
    return Path(path)
