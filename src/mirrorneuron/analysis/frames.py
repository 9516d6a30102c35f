"""The notebook API: gameplay as pandas or polars DataFrames, and the report's input.

:func:`load` is ``mirrorneuron export`` as a DataFrame: the same joined columns (``store.export.Gameplay``:
guesses with their rounds, games, players, units, levels, models with their attributes, and the examples
themselves), plus the fit's derived columns ``outcome``, ``abs_error`` and ``prior_rounds``, so the result
goes straight into ``fit_skill_difficulty``. For the fits alone at millions of rows, :func:`load_rounds`
(:mod:`.load`) is leaner. docs/analysis.md ("Data") lists every column.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal, cast

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Engine, Table, select

from mirrorneuron.analysis.fit import prior_rounds
from mirrorneuron.analysis.load import load_rounds
from mirrorneuron.analysis.sections import AnalysisData
from mirrorneuron.store.db import make_engine, migrate
from mirrorneuron.store.export import Gameplay, Selection, models_table
from mirrorneuron.store.models import Unit, UnitScore

FRAMES = ("pandas", "polars")
# pandas categoricals (as in load_rounds): ids and short labels repeated on many rows
CATEGORIES = ("player_id", "player_name", "player_kind", "bot_name", "bot_version", "study_id", "game_id",
              "design", "client", "policy", "model_id", "unit_id", "example_id", "source", "points_version",
              "site", "unit_kind", "level_name", "modality", "example_kind", "text", "target_token")  # fmt: skip
_us, _u = cast(Table, UnitScore.__table__), cast(Table, Unit.__table__)


@contextmanager
def _connected(database_url_or_engine: str | Engine | None) -> Iterator[Engine]:
    """The engine given, or one on the URL (default: the configured store), migrated and disposed after."""
    if isinstance(database_url_or_engine, Engine):
        yield database_url_or_engine
        return
    engine = make_engine(database_url_or_engine)
    try:
        migrate(engine)
        yield engine
    finally:
        engine.dispose()


def _with_derived(table: pa.Table) -> pa.Table:
    """``outcome`` = score / 100, ``abs_error`` = |guess − actual| / scale, ``prior_rounds`` (rows in play order)."""
    codes = [
        pc.dictionary_encode(table.column(c)).combine_chunks().indices.to_numpy(zero_copy_only=False)
        for c in ("player_id", "unit_id")
    ]
    table = table.append_column("outcome", pc.divide(table.column("score"), 100.0))
    abs_err = pc.divide(pc.abs(pc.subtract(table.column("guess"), table.column("actual"))), table.column("scale"))
    table = table.append_column("abs_error", abs_err)
    prior = prior_rounds(*codes) if table.num_rows else np.zeros(0, np.int64)
    return table.append_column("prior_rounds", pa.array(prior, pa.int64()))


def load(
    database_url_or_engine: str | Engine | None = None,
    *,
    study: str | None = None,
    model: str | None = None,
    players: Literal["all", "human", "bot"] = "all",
    design: str | None = None,
    frame: Literal["pandas", "polars"] = "pandas",
    with_examples: bool = True,
) -> Any:
    """Every answered round of the selection (humans and bots; ``players`` narrows it) as one DataFrame, in
    play order: the export's columns plus ``outcome``, ``abs_error`` and ``prior_rounds`` (counted within the
    selection). ``with_examples=False`` skips the example columns (text, target token, tokens, pixels).

    ValueError for a bad ``players`` / ``frame``; ``store.errors.NotFound`` for a study or model the store
    does not have. With a URL (or none: the configured store) the schema is migrated first."""
    if frame not in FRAMES:
        raise ValueError(f"frame must be one of {', '.join(FRAMES)}, got {frame!r}")
    selection = Selection(study, model, players, design)
    with _connected(database_url_or_engine) as engine, engine.connect() as conn:
        gameplay = Gameplay(conn, selection, with_examples=with_examples)
        table = _with_derived(pa.Table.from_batches(list(gameplay.batches()), schema=gameplay.schema))
    if frame == "polars":
        try:
            import polars as pl
        except ImportError:
            raise ImportError("frame='polars' needs the polars package: pip install polars") from None
        return pl.from_arrow(table)
    for name in CATEGORIES:
        if name in table.column_names:
            i = table.column_names.index(name)
            table = table.set_column(i, name, pc.dictionary_encode(table.column(name)))
    return table.to_pandas()


def load_models(engine: Engine, model: str | None = None) -> pd.DataFrame:
    """One row per model (or just ``model``): ``model_id``, ``modality`` and each attribute as a column."""
    with engine.connect() as conn:
        return models_table(conn, model).to_pandas()


def load_finder_scores(engine: Engine, model: str | None = None) -> pd.DataFrame:
    """Automated finders' per-unit scores (table ``unit_scores``, maybe empty): ``unit_id, finder,
    finder_version, score`` (score NaN where a finder cannot score a unit); of one model's units if asked."""
    stmt = select(_us.c.unit_id, _us.c.finder, _us.c.finder_version, _us.c.score).order_by(_us.c.unit_id, _us.c.finder)
    if model is not None:
        stmt = stmt.join(_u, _u.c.id == _us.c.unit_id).where(_u.c.model_id == model)
    with engine.connect() as conn:
        rows = conn.execute(stmt).all()
    cols = list(zip(*rows, strict=True)) or [(), (), (), ()]
    return pd.DataFrame(
        {
            "unit_id": pd.Series(cols[0], dtype=object),
            "finder": pd.Series(cols[1], dtype=object),
            "finder_version": pd.Series(cols[2], dtype=object),
            "score": pd.Series([np.nan if v is None else v for v in cols[3]], dtype=np.float64),
        }
    )


def load_analysis_data(engine: Engine, study: str | None = None, model: str | None = None) -> AnalysisData:
    """The report's input: the selection's rounds (``load_rounds`` columns, humans and bots), the models they
    were played on with their attributes, and the finder scores (of ``model``'s units if given). ``fit`` is
    left None: the report fits. NotFound for an unknown study or model."""
    with engine.connect() as conn:
        Selection(study, model).check(conn)
    rounds = load_rounds(engine, study_id=study, model_id=model)
    models = load_models(engine, model)
    if study is not None:
        models = models[models["model_id"].isin(rounds["model_id"].astype(str).unique())].reset_index(drop=True)
    title = " · ".join(f"{k} {v}" for k, v in (("study", study), ("model", model)) if v is not None)
    return AnalysisData(
        rounds=rounds, models=models, finder_scores=load_finder_scores(engine, model), title=title or "all gameplay"
    )
