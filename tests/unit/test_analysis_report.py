"""The analysis report from simulated rounds: every section renders (figure, facts, tables), tables come back
from Parquet and CSV as they went in, a failing builder is contained in its own section, too little data
says so, and the JSON twin is strict JSON."""

from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pytest
from PIL import Image

from mirrorneuron.analysis import report as rp
from mirrorneuron.analysis.fit_sections import FOREST_EACH_END, difficulty_section
from mirrorneuron.analysis.sections import AnalysisData, Section
from mirrorneuron.analysis.simulate import SimConfig, simulate
from mirrorneuron.types import UserError

FIT_KEYS = ("difficulty", "levels", "skill")  # the sections of this module's builders (fit_sections)


def rounds_of(config: SimConfig) -> pd.DataFrame:
    df = simulate(config).rounds()
    return df.assign(player_kind="human", model_id="sim-model", study_id=None)


@pytest.fixture(scope="module")
def data() -> AnalysisData:
    return AnalysisData(rounds=rounds_of(SimConfig(n_players=150, n_units=90, games_per_player=4, seed=3)))


@pytest.fixture(scope="module")
def built(data: AnalysisData, tmp_path_factory: pytest.TempPathFactory) -> tuple[rp.Report, Path]:
    report = rp.build_report(data)
    return report, rp.write_report(report, tmp_path_factory.mktemp("report") / "out")


def test_every_section_renders_with_a_figure_and_tables(built: tuple[rp.Report, Path]) -> None:
    report, index = built
    by_key = {s.key: s for s in report.sections}
    assert len(by_key) == len(report.sections) == len(rp.SECTION_BUILDERS)  # one per builder, keys unique
    assert all(by_key[k].enough_data and by_key[k].tables and by_key[k].facts for k in FIT_KEYS)
    assert set(FIT_KEYS) <= set(report.images)
    html = index.read_text()
    for s in report.sections:
        assert f'<section class="report-section" id="{s.key}">' in html and f"<h2>{s.title}</h2>" in html
        assert f'<li><a href="#{s.key}">{s.title}</a>' in html  # the contents list
    for image in report.images.values():
        png = Image.open(io.BytesIO(image))
        assert png.format == "PNG" and min(png.size) > 100
    inlined = re.findall(r'<img class="figure" src="data:image/png;base64,([^"]+)"', html)
    shown = [report.images[s.key] for s in report.sections if s.key in report.images]
    assert [base64.b64decode(b) for b in inlined] == shown  # self-contained, in section order
    assert "<script" not in html and "http://" not in html and "https://" not in html
    assert f"<dt>human rounds</dt><dd>{report.covers['human_rounds']}</dd>" in html  # what the data covers


def test_tables_are_written_as_parquet_and_csv_and_load_back(built: tuple[rp.Report, Path]) -> None:
    report, index = built
    written = {p.name for p in index.parent.iterdir()}
    expected = {rp.table_file(s.key, n, ext) for s in report.sections for n in s.tables for ext in ("parquet", "csv")}
    assert expected <= written and {"index.html", "report.json"} <= written
    for s in report.sections:
        for name, df in s.tables.items():
            want = df.reset_index(drop=True).astype({c: str for c in df.columns if df[c].dtype == "category"})
            back = pd.read_parquet(index.parent / rp.table_file(s.key, name, "parquet"))
            back = back.astype({c: str for c in back.columns if back[c].dtype == "category"})
            pd.testing.assert_frame_equal(back, want, check_dtype=False)
            csv = pl.read_csv(index.parent / rp.table_file(s.key, name, "csv"))
            assert csv.columns == list(df.columns) and csv.height == len(df)
            num = [c for c in df.columns if pd.api.types.is_float_dtype(df[c])]
            np.testing.assert_allclose(csv.select(num).to_numpy(), df[num].to_numpy(), rtol=1e-12)


def test_the_json_twin_is_strict_json_with_every_section(built: tuple[rp.Report, Path]) -> None:
    report, index = built
    twin = json.loads((index.parent / "report.json").read_text())
    json.dumps(twin, allow_nan=False)  # NaN would not be JSON
    assert twin == json.loads(json.dumps(rp.report_json(report)))
    assert [s["key"] for s in twin["sections"]] == [s.key for s in report.sections]
    for out, s in zip(twin["sections"], report.sections, strict=True):
        assert {n: len(r) for n, r in out["tables"].items()} == {n: len(df) for n, df in s.tables.items()}
        assert out["figure"] == (rp.data_uri(report.images[s.key]) if s.key in report.images else None)
    assert twin["covers"]["rounds"] == report.covers["rounds"] > 0


def test_a_builder_that_raises_becomes_a_section_saying_so(data: AnalysisData, tmp_path: Path) -> None:
    def broken(_: AnalysisData) -> Section:
        raise KeyError("no column 'bot_score'")

    steps: list[str] = []
    report = rp.build_report(data, [difficulty_section, broken, difficulty_section], progress=steps.append)
    assert [s.key for s in report.sections] == ["difficulty", "broken-failed", "difficulty-2"]
    failed = report.sections[1]
    assert not failed.enough_data and "KeyError" in failed.note and "bot_score" in failed.note
    assert steps == ["fit", "difficulty", "broken-failed", "difficulty-2"]
    html = rp.write_report(report, tmp_path).read_text()
    assert "broken: failed" in html and html.count('<img class="figure"') == 2


def test_too_little_data_says_not_enough_data(tmp_path: Path) -> None:
    few = rounds_of(SimConfig(n_players=1, n_units=3, games_per_player=1, rounds_per_game=10, seed=1))
    assert len(few) < rp.MIN_FIT_ROUNDS
    report = rp.build_report(AnalysisData(rounds=few))
    fit = [s for s in report.sections if s.key in FIT_KEYS]
    assert len(fit) == len(FIT_KEYS)
    assert all(not s.enough_data and s.note.startswith("Not enough data") and not s.tables for s in fit)
    assert not set(FIT_KEYS) & set(report.images)
    html = rp.write_report(report, tmp_path).read_text()
    assert html.count("Not enough data") >= len(FIT_KEYS)
    empty = rp.build_report(AnalysisData(rounds=few.iloc[:0]))  # an empty store
    empty.covers.update(first_guess_at=None, models=[])
    assert "<dt>first guess at</dt><dd>—</dd>" in str(rp.render_sections(empty))
    assert empty.covers["rounds"] == 0 and all(not s.enough_data for s in empty.sections)


def test_each_section_has_its_own_minimum(data: AnalysisData) -> None:
    one_level = data.rounds[data.rounds["level"] == 1]  # enough for a fit, but nothing to compare levels with
    sections = {s.key: s for s in rp.build_report(AnalysisData(rounds=one_level)).sections}
    assert sections["difficulty"].enough_data and sections["skill"].enough_data
    assert not sections["levels"].enough_data and "2 levels" in sections["levels"].note


def test_a_large_forest_plot_shows_the_easiest_and_the_hardest(built: tuple[rp.Report, Path]) -> None:
    section = next(s for s in built[0].sections if s.key == "difficulty")
    units = section.tables["units"]
    assert len(units) > 2 * FOREST_EACH_END and units["difficulty"].is_monotonic_increasing
    assert (units["lo"] < units["difficulty"]).all() and (units["difficulty"] < units["hi"]).all()
    assert section.figure is not None
    labels = [t.get_text() for t in section.figure.axes[0].get_yticklabels()]
    ids = units["unit_id"].astype(str).tolist()
    assert labels == ids[:FOREST_EACH_END] + ids[-FOREST_EACH_END:]
    assert f"shows {2 * FOREST_EACH_END} of {len(units)} units" in section.note


def test_the_fit_is_reused_when_given(data: AnalysisData) -> None:
    fit = rp.fit_rounds(data)
    assert fit is not None
    given = AnalysisData(rounds=data.rounds, fit=fit)
    table = rp.build_report(given, [difficulty_section]).sections[0].tables["units"]
    assert set(table["unit_id"]) <= set(fit.units["unit_id"])
    bots = AnalysisData(rounds=data.rounds.assign(player_kind="bot"))  # bots never enter the human fit
    assert rp.fit_rounds(bots) is None


def test_facts_become_json_safe() -> None:
    facts = {"a": np.float64("nan"), "b": np.int64(3), "c": [np.float32(0.5), float("inf")], "d": pd.Timestamp(0)}
    assert rp.jsonable(facts) == {"a": None, "b": 3, "c": [0.5, None], "d": "1970-01-01 00:00:00"}


def test_an_unwritable_folder_is_a_user_error(built: tuple[rp.Report, Path], tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(UserError, match="cannot write the report"):
        rp.write_report(built[0], blocker / "out")
