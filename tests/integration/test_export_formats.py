"""`mirrorneuron export` against SQLite and a real Postgres: each format loads in pandas and in polars with the
same rows and values, which are ``analysis.load``'s; filters select; bad arguments are one line and exit 2
with nothing written. A planted join that drops the bots' rows fails the row check."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import polars as pl
import pytest
import store_fixtures as fx
from gameplay_fixtures import Played, faulty_join, marked, played, rows_of
from sqlalchemy import Engine
from typer.testing import CliRunner

from cli_run import run_main
from mirrorneuron import analysis
from mirrorneuron.cli import app
from mirrorneuron.store import export

pg_server, store_engine = fx.pg_server, fx.store_engine  # pytest fixtures (store_fixtures.py)
_ = played
FORMATS = ("parquet", "csv", "jsonl")
IDS = ("player_id", "study_id", "game_id", "round_id", "model_id", "unit_id", "example_id", "bot_version")
NESTED = ("tokens", "pixels")  # JSON text in CSV


@pytest.fixture
def configured(store_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Engine:
    """The test database as the configured store (what the CLI opens)."""
    monkeypatch.setenv("MIRRORNEURON_DATABASE_URL", store_engine.url.render_as_string(hide_password=False))
    return store_engine


def read(path: Path, fmt: str) -> tuple[pd.DataFrame, pl.DataFrame]:
    """The file as pandas and polars read it (ids read as text: a hex id may look like a number)."""
    if fmt == "parquet":
        return pd.read_parquet(path), pl.read_parquet(path)
    if fmt == "csv":
        return pd.read_csv(path, dtype=dict.fromkeys(IDS, str)), pl.read_csv(
            path, schema_overrides=dict.fromkeys(IDS, pl.String)
        )
    pdf = pd.read_json(path, lines=True, dtype=dict.fromkeys(IDS, str), convert_dates=False, precise_float=True)
    return pdf, pl.read_ndjson(path, schema_overrides=dict.fromkeys(IDS, pl.String))


def exported(args: list[str], path: Path, fmt: str, capsys: Any, monkeypatch: Any) -> tuple[pd.DataFrame, pl.DataFrame]:
    code, out, err = run_main(["export", "--format", fmt, "--out", str(path), *args], capsys, monkeypatch)
    assert code == 0, err
    assert out.strip().startswith("wrote ") and "export" in err  # the summary, and the progress bar on stderr
    return read(path, fmt)


def check_rows(df: pd.DataFrame, p: Played) -> None:
    assert sorted(df["round_id"]) == sorted(p.truth), "rows dropped or duplicated"
    for row in df.to_dict("records"):
        assert row["actual"] == p.truth[row["round_id"]] and row["player_kind"] == p.kinds[row["round_id"]]
        served = p.served[row["round_id"]]
        if "tokens" in served:
            assert row["text"] == marked(served)


@pytest.mark.parametrize("fmt", FORMATS)
def test_each_format_loads_the_same_in_pandas_and_polars(
    configured: Engine, played: Played, fmt: str, tmp_path: Path, capsys: Any, monkeypatch: Any
) -> None:
    pdf, pldf = exported([], tmp_path / f"g.{fmt}", fmt, capsys, monkeypatch)
    assert list(pdf.columns) == pldf.columns or fmt == "jsonl"  # polars orders JSON keys its own way
    assert list(pdf.columns[: len(export.SCHEMA)]) == export.SCHEMA.names  # the study export's columns
    assert rows_of(pldf.select(list(pdf.columns)).to_pandas()) == rows_of(pdf)
    check_rows(pdf, played)
    # the same values as the notebook API
    ref = analysis.load(configured).astype(object)
    for name in ("guess_id", "round_id", "player_kind", "bot_name", "model_activation", "model_seed", "text"):
        assert rows_of(pdf[[name]]) == rows_of(ref[[name]]), name
    for name in NESTED:
        got = [json.loads(v) if isinstance(v, str) else v for v in pdf[name]] if fmt == "csv" else list(pdf[name])
        assert rows_of(pd.DataFrame({name: got})) == rows_of(ref[[name]]), name


@pytest.mark.parametrize(
    ("args", "n", "check"),
    [
        (["--players", "bot"], 4, ("player_kind", {"bot"})),
        (["--players", "human", "--no-examples"], 6, ("player_kind", {"human"})),
        (["--design", "bots"], 4, ("design", {"bots"})),
    ],
)
def test_filters_select_rows(
    configured: Engine,
    played: Played,
    args: list[str],
    n: int,
    check: Any,
    tmp_path: Path,
    capsys: Any,
    monkeypatch: Any,
) -> None:
    pdf, _ = exported(args, tmp_path / "g.parquet", "parquet", capsys, monkeypatch)
    assert len(pdf) == n and set(pdf[check[0]]) == check[1]
    assert ("text" in pdf.columns) == ("--no-examples" not in args)


def test_study_and_model_filters(
    configured: Engine, played: Played, tmp_path: Path, capsys: Any, monkeypatch: Any
) -> None:
    pdf, pldf = exported(["--study", played.study_id], tmp_path / "s.csv", "csv", capsys, monkeypatch)
    assert len(pdf) == pldf.height == 4 and set(pdf["study_id"]) == {played.study_id}
    pdf, _ = exported(["--model", played.image_model], tmp_path / "m.jsonl", "jsonl", capsys, monkeypatch)
    assert len(pdf) == 2 and set(pdf["example_kind"]) == {"image"} and pdf["text"].isna().all()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "xlsx"], "export format must be one of parquet, csv, jsonl"),
        (["--format", "csv", "--study", "nope"], "no study 'nope' in the gameplay store"),
        (["--format", "csv", "--model", "nope"], "no model 'nope' in the gameplay store"),
        (["--format", "csv", "--players", "robots"], "players must be one of all, human, bot"),
        (["--format", "csv", "--out-is-a-dir"], "is a directory"),
        (["--format", "csv", "--out-under-a-file"], "cannot create the folder of --out"),
        ([], "Missing option '--format'"),
    ],
    ids=["format", "study", "model", "players", "dir", "under-file", "missing"],
)
def test_bad_arguments_are_one_line_and_exit_2(
    configured: Engine, played: Played, args: list[str], message: str, tmp_path: Path, capsys: Any, monkeypatch: Any
) -> None:
    out = tmp_path / "g.csv"
    if "--out-is-a-dir" in args:
        out.mkdir()
    if "--out-under-a-file" in args:
        (tmp_path / "afile").write_text("x")
        out = tmp_path / "afile" / "g.csv"
    args = [a for a in args if not a.startswith("--out-")]
    code, _, err = run_main(["export", *args, "--out", str(out)], capsys, monkeypatch)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2 and len(lines) == 1 and message in lines[0], err
    assert "Traceback" not in err and not out.is_file() and not list(tmp_path.glob("**/.*.tmp"))


def test_help() -> None:
    res = CliRunner().invoke(app, ["export", "--help"])
    assert res.exit_code == 0 and "--format" in res.output and "jsonl" in res.output


def test_planted_bad_join_fails_the_export_row_check(
    configured: Engine, played: Played, tmp_path: Path, capsys: Any, monkeypatch: Any
) -> None:
    monkeypatch.setattr(export, "joined", faulty_join("drops-bots"))
    pdf, _ = exported([], tmp_path / "g.parquet", "parquet", capsys, monkeypatch)
    with pytest.raises(AssertionError, match="rows dropped or duplicated"):
        check_rows(pdf, played)
