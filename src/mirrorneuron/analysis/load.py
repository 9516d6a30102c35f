"""Load answered rounds from the gameplay store into a DataFrame, the input of the fits.

One query (guesses ⋈ rounds ⋈ games ⋈ players ⋈ units), streamed in chunks so 10M rows never sit in memory
as Python rows; works the same on SQLite and Postgres. One row per guess, in play order (guess id), with

    guess_id, player_id, player_kind, unit_id, model_id, site, unit_kind, level, game_id, study_id, design,
    client, practice_game, seq, example_id, example_index, source, weight, scale, actual, guess, score,
    seconds, outcome (= score / 100), abs_error (= |guess − actual| / scale), prior_rounds

``prior_rounds`` counts the rounds the same player had already answered on the same unit (the fit's practice
term), within the selection: with a filter, rounds outside it are not counted. Id columns are pandas
categoricals.
"""

from __future__ import annotations

from typing import Any, cast

import numpy as np
import pandas as pd
from pandas.api.types import union_categoricals
from sqlalchemy import Engine, Select, Table

from mirrorneuron.analysis.fit import prior_rounds
from mirrorneuron.store.export import Selection, joined
from mirrorneuron.store.models import Game, Guess, Player, Round, Unit

CHUNK = 200_000
_g, _r, _gm, _p, _u = (cast(Table, t.__table__) for t in (Guess, Round, Game, Player, Unit))

_SELECT = [
    _g.c.id.label("guess_id"),
    _g.c.player_id,
    _p.c.kind.label("player_kind"),
    _r.c.unit_id,
    _u.c.model_id,
    _u.c.site,
    _u.c.kind.label("unit_kind"),
    _r.c.level,
    _r.c.game_id,
    _gm.c.study_id,
    _gm.c.design,
    _gm.c.client,
    _gm.c.practice.label("practice_game"),
    _r.c.seq,
    _r.c.example_id,
    _r.c.example_index,
    _r.c.source,
    _r.c.weight,
    _r.c.scale,
    _r.c.actual,
    _g.c.value.label("guess"),
    _g.c.score,
    _g.c.seconds,
]
COLUMNS = [c.name for c in _SELECT]
CATEGORIES = ("player_id", "player_kind", "unit_id", "model_id", "site", "unit_kind", "game_id", "study_id",
              "design", "client", "example_id", "source")  # fmt: skip
FLOATS = ("weight", "scale", "actual", "guess", "score", "seconds")  # seconds may be NULL → NaN
LOAD_COLUMNS = (*COLUMNS, "outcome", "abs_error", "prior_rounds")


def rounds_query(
    *,
    study_id: str | None = None,
    model_id: str | None = None,
    player_kind: str | None = None,
    design: str | None = None,
) -> Select[Any]:
    """The one SELECT behind :func:`load_rounds` (filters are optional and combine with AND)."""
    selection = Selection(study_id, model_id, player_kind or "all", design)
    return selection.where(joined(*_SELECT))


def _frame(rows: list[Any]) -> pd.DataFrame:
    cols = list(zip(*rows, strict=True)) if rows else [() for _ in COLUMNS]
    data: dict[str, Any] = {}
    for name, values in zip(COLUMNS, cols, strict=True):
        if name in CATEGORIES:
            data[name] = pd.Categorical(values)
        else:
            data[name] = np.asarray(values, dtype=np.float64 if name in FLOATS else None)
    return pd.DataFrame(data)


def load_rounds(
    engine: Engine,
    *,
    study_id: str | None = None,
    model_id: str | None = None,
    player_kind: str | None = None,
    design: str | None = None,
    chunk_size: int = CHUNK,
) -> pd.DataFrame:
    """Every answered round (optionally of one study, model, player kind or game design) as a DataFrame with
    the columns of :data:`LOAD_COLUMNS`, in play order."""
    stmt = rounds_query(study_id=study_id, model_id=model_id, player_kind=player_kind, design=design)
    parts: list[pd.DataFrame] = []
    with engine.connect() as conn:
        result = conn.execution_options(stream_results=True, yield_per=chunk_size).execute(stmt)
        parts = [_frame(list(chunk)) for chunk in result.partitions()]
    if not parts:
        parts = [_frame([])]
    df = pd.DataFrame(
        {
            name: union_categoricals([p[name] for p in parts])
            if name in CATEGORIES
            else np.concatenate([p[name].to_numpy() for p in parts])
            for name in COLUMNS
        }
    )
    df = df.sort_values("guess_id", kind="stable", ignore_index=True)
    df["outcome"] = df["score"] / 100.0
    df["abs_error"] = (df["guess"] - df["actual"]).abs() / df["scale"]
    df["prior_rounds"] = prior_rounds(df["player_id"].cat.codes.to_numpy(), df["unit_id"].cat.codes.to_numpy())
    return df
