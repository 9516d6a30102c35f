"""The notebook API against SQLite and a real Postgres: ``analysis.load`` returns every answered round once,
humans and bots, joined with its unit, level, model attributes and the example the player saw; pandas and
polars agree; filters select; the report's input (``load_analysis_data``) holds rounds, models and finder
scores. Planted faults (a join that duplicates or drops rows, examples merged onto the wrong rows) fail."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import store_fixtures as fx
from gameplay_fixtures import IMAGE_ATTRS, TEXT_ATTRS, Played, faulty_join, marked, played, rows_of
from sqlalchemy import Engine, insert

from mirrorneuron import analysis
from mirrorneuron.analysis.fit import fit_skill_difficulty
from mirrorneuron.analysis.load import LOAD_COLUMNS
from mirrorneuron.store import export
from mirrorneuron.store.errors import NotFound
from mirrorneuron.store.models import UnitScore

pg_server, store_engine = fx.pg_server, fx.store_engine  # pytest fixtures (store_fixtures.py)
_ = played


def check_rounds(df: pd.DataFrame, p: Played) -> None:
    """Every answered round exactly once, with its truth, its player's kind and the example served."""
    assert sorted(df["round_id"].astype(str)) == sorted(p.truth), "rows dropped or duplicated"
    assert df["guess_id"].is_monotonic_increasing and df["guess_id"].is_unique
    for row in df.itertuples():
        assert row.actual == p.truth[row.round_id] and row.player_kind == p.kinds[row.round_id]
        served = p.served[row.round_id]
        if "tokens" in served:
            assert row.example_kind == "text" and row.text == marked(served)
            assert row.target_token == served["tokens"][served["target"]] and row.target == served["target"]
            assert list(row.tokens) == served["tokens"] and not isinstance(row.pixels, list | np.ndarray)
        else:
            assert row.example_kind == "image" and pd.isna(row.text) and pd.isna(row.target_token)
            assert np.array([list(r) for r in row.pixels]).tolist() == served["pixels"]


def test_load_joins_every_answered_round_once(store_engine: Engine, played: Played) -> None:
    df = analysis.load(store_engine)
    check_rounds(df, played)
    assert len(df) == played.n_answered == 10
    assert list(df.columns[: len(export.SCHEMA)]) == export.SCHEMA.names  # the study export's columns first
    bots = df[df["player_kind"] == "bot"]
    assert len(bots) == 4 and set(bots["bot_name"]) == {"ridge"} and set(bots["bot_version"]) == {"2"}
    assert set(bots["design"]) == {"bots"} and set(bots["client"]) == {"cli"}
    assert set(df["site"]) == {"blocks.0.mlp.post"} and set(df["unit_kind"]) == {"neuron"}
    assert sorted(set(zip(df["unit_id"], df["unit_index"], strict=True))) == sorted(
        {(played.text_unit, 5), (played.image_unit, 2)}
    )
    assert set(df["level_name"]) == {"blind"} and set(df["level"]) == {0}
    text = df[df["model_id"] == played.text_model]
    assert set(text["modality"]) == {"text"} and set(df[df["model_id"] == played.image_model]["modality"]) == {"image"}


def test_model_attributes_are_columns(store_engine: Engine, played: Played) -> None:
    df = analysis.load(store_engine, with_examples=False)
    for model, attrs in ((played.text_model, TEXT_ATTRS), (played.image_model, IMAGE_ATTRS)):
        rows = df[df["model_id"] == model]
        for key in {**TEXT_ATTRS, **IMAGE_ATTRS}:
            got = rows[f"model_{key}"].tolist()
            if key not in attrs:
                assert all(v is None or (isinstance(v, float) and math.isnan(v)) for v in got), key
            elif isinstance(attrs[key], list):
                assert set(got) == {"[0, 1]"}  # nested values as JSON text
            else:
                assert set(got) == {attrs[key]}, key
    assert set(df["seed"]) == {3}  # the game's seed stays apart from the model's (model_seed)
    assert {"text", "tokens", "pixels", "target_token"}.isdisjoint(df.columns)
    models = analysis.load_models(store_engine)
    row = models.set_index("model_id").loc[played.text_model]
    assert (row["activation"], row["width"], row["seed"], row["modality"]) == ("gelu", 64, 7, "text")
    assert list(analysis.load_models(store_engine, played.image_model)["model_id"]) == [played.image_model]


def test_pandas_and_polars_hold_the_same_rows(store_engine: Engine, played: Played) -> None:
    pdf = analysis.load(store_engine)
    pldf = analysis.load(store_engine, frame="polars")
    assert type(pldf).__module__.startswith("polars") and pldf.columns == list(pdf.columns)
    assert rows_of(pldf.to_pandas()) == rows_of(pdf)


def test_derived_columns_feed_the_fit(store_engine: Engine, played: Played) -> None:
    df = analysis.load(store_engine, with_examples=False)
    np.testing.assert_allclose(df["outcome"], df["score"] / 100)
    np.testing.assert_allclose(df["abs_error"], (df["guess"] - df["actual"]).abs() / df["scale"])
    assert df["prior_rounds"].tolist() == [0, 1, 2, 3, 0, 1, 2, 3, 0, 1]  # human text, bot text, human image
    assert set(LOAD_COLUMNS) - set(df.columns) == {"practice_game"}  # the export calls it `practice`
    fit = fit_skill_difficulty(df)
    assert set(fit.units["unit_id"]) == {played.text_unit, played.image_unit}


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"players": "bot"}, {"bot"}),
        ({"players": "human"}, {"human"}),
        ({"design": "bots"}, {"bot"}),
    ],
)
def test_player_and_design_filters(store_engine: Engine, played: Played, filters: Any, expected: set[str]) -> None:
    df = analysis.load(store_engine, **filters)
    assert set(df["player_kind"]) == expected
    assert sorted(df["round_id"]) == sorted(r for r, kind in played.kinds.items() if kind in expected)


def test_study_and_model_filters_and_bad_arguments(store_engine: Engine, played: Played) -> None:
    study = analysis.load(store_engine, study=played.study_id, frame="polars")
    assert study.height == 4 and set(study["study_id"]) == {played.study_id}
    image = analysis.load(store_engine, model=played.image_model)
    assert len(image) == 2 and set(image["example_kind"]) == {"image"}
    assert analysis.load(store_engine, model=played.image_model, players="bot").empty
    with pytest.raises(NotFound, match="no study 'nope'"):
        analysis.load(store_engine, study="nope")
    with pytest.raises(NotFound, match="no model 'nope'"):
        analysis.load(store_engine, model="nope")
    with pytest.raises(ValueError, match="players must be one of all, human, bot"):
        analysis.load(store_engine, players="robots")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="frame must be one of pandas, polars"):
        analysis.load(store_engine, frame="arrow")  # type: ignore[arg-type]


def test_load_from_a_url_and_the_configured_store(
    store_engine: Engine, played: Played, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = store_engine.url.render_as_string(hide_password=False)
    assert len(analysis.load(url, with_examples=False)) == played.n_answered
    monkeypatch.setenv("MIRRORNEURON_DATABASE_URL", url)
    assert len(analysis.load(players="bot")) == 4


def test_analysis_data_and_finder_scores(store_engine: Engine, played: Played) -> None:
    assert analysis.load_finder_scores(store_engine).empty
    assert list(analysis.load_finder_scores(store_engine).columns) == ["unit_id", "finder", "finder_version", "score"]
    with store_engine.begin() as conn:
        conn.execute(
            insert(UnitScore),
            [
                {"unit_id": played.text_unit, "finder": "kurtosis", "finder_version": "1", "score": 2.5},
                {"unit_id": played.image_unit, "finder": "kurtosis", "finder_version": "1", "score": None},
            ],
        )
    scores = analysis.load_finder_scores(store_engine)
    assert len(scores) == 2 and scores["score"].isna().sum() == 1
    data = analysis.load_analysis_data(store_engine, model=played.image_model)
    assert len(data.rounds) == 2 and list(data.rounds.columns) == list(LOAD_COLUMNS) and data.fit is None
    assert list(data.models["model_id"]) == [played.image_model] and data.models["activation"].tolist() == ["relu"]
    assert data.finder_scores["unit_id"].tolist() == [played.image_unit]
    data = analysis.load_analysis_data(store_engine, study=played.study_id)
    assert len(data.rounds) == 4 and list(data.models["model_id"]) == [played.text_model]
    assert "study" in data.title and set(data.human_rounds["player_kind"]) == {"human"}
    both = analysis.load_analysis_data(store_engine)
    assert set(both.rounds["player_kind"]) == {"human", "bot"} and len(both.models) >= 2
    with pytest.raises(NotFound):
        analysis.load_analysis_data(store_engine, study="nope")


def test_small_batches_stream_the_same_rows(store_engine: Engine, played: Played) -> None:
    """Many batches, each with its own example lookups while the stream is open (a server-side cursor on
    Postgres), give the rows one batch gives."""
    with store_engine.connect() as conn:
        small = export.Gameplay(conn, batch_size=3)
        batches = list(small.batches())
        whole = pa.Table.from_batches(list(export.Gameplay(conn).batches()))
        assert len(batches) == 4 and small.count() == played.n_answered
    assert pa.Table.from_batches(batches).equals(whole)


# --- planted faults: the row guard above must catch each of them -----------------------------------------


@pytest.mark.parametrize("fault", ["duplicates", "drops-bots"])
def test_planted_bad_join_fails_the_row_guard(
    store_engine: Engine, played: Played, monkeypatch: pytest.MonkeyPatch, fault: str
) -> None:
    monkeypatch.setattr(export, "joined", faulty_join(fault))
    df = analysis.load(store_engine)
    with pytest.raises(AssertionError, match="rows dropped or duplicated"):
        check_rounds(df, played)


def test_planted_example_mismerge_fails_the_row_guard(
    store_engine: Engine, played: Played, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = export._positions

    def shifted(keys: Any, values: Any) -> Any:  # each row gets the next distinct example
        return real(keys, [keys[(list(keys).index(v) + 1) % len(keys)] if v in keys else v for v in values])

    monkeypatch.setattr(export, "_positions", shifted)
    with pytest.raises(AssertionError):
        check_rounds(analysis.load(store_engine), played)
