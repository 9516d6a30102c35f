"""`mirrorneuron analyze` on a small store of simulated gameplay: the report's files, the --study / --model
selections, and one-line errors with exit code 2 for an unknown study or model and an unwritable --out."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import typer
from sqlalchemy import Engine, update
from typer.testing import CliRunner

from cli_run import run_main
from mirrorneuron.analysis.simstore import StoredSimulation, write_simulation
from mirrorneuron.analysis.simulate import SimConfig, simulate
from mirrorneuron.cli import app
from mirrorneuron.cli_report import analyze as analyze_command
from mirrorneuron.store import repo
from mirrorneuron.store.db import make_engine, migrate, session_factory
from mirrorneuron.store.models import Game

Run = Callable[..., tuple[int, str, str]]
Store = tuple[str, list[StoredSimulation], str]


def section(twin: dict[str, Any], key: str) -> dict[str, Any]:
    return next(s for s in twin["sections"] if s["key"] == key)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """Two simulated models; the first model's first 40 games belong to a study. Yields (url, sims, study)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('analyze') / 'store.db'}"
    engine: Engine = make_engine(url)
    migrate(engine)
    sims = [
        write_simulation(engine, simulate(SimConfig(n_players=40, n_units=12, games_per_player=3, seed=s)), tag=t)
        for s, t in ((1, "aa"), (2, "bb"))
    ]
    with session_factory(engine)() as s:
        owner = repo.ensure_player(s, None).id
        config = repo.StudyConfig(
            name="cli study", units=sims[0].unit_ids[:3], levels=[0], rounds_per_unit=10, practice_rounds=0
        )
        study = repo.create_study(s, config, owner).id
        s.execute(update(Game).where(Game.id.in_([f"aag{g:x}" for g in range(40)])).values(study_id=study))
        s.commit()
    engine.dispose()
    yield url, sims, study


@pytest.fixture
def analyze(store: Store, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Run:
    monkeypatch.setenv("MIRRORNEURON_DATABASE_URL", store[0])

    def run(*args: str) -> tuple[int, str, str]:
        return run_main(["analyze", *args], capsys, monkeypatch)

    return run


def test_the_report_and_its_tables_are_written(analyze: Run, tmp_path: Path) -> None:
    code, out, err = analyze("--out", str(tmp_path / "r"))
    assert code == 0, err
    assert "report" in out and "index.html" in out
    twin = json.loads((tmp_path / "r" / "report.json").read_text())
    assert twin["covers"]["models"] == ["sim-aa", "sim-bb"] and twin["covers"]["rounds"] > 0
    first, last = twin["covers"]["first_guess_at"], twin["covers"]["last_guess_at"]
    assert first and last and first <= last  # when the data was played
    fit = [s for s in twin["sections"] if s["key"] in ("difficulty", "levels", "skill")]
    assert len(fit) == 3 and all(s["enough_data"] for s in fit)
    html = (tmp_path / "r" / "index.html").read_text()
    for section in twin["sections"]:
        assert f"<h2>{section['title']}</h2>" in html
        for name, rows in section["tables"].items():
            stem = tmp_path / "r" / f"{section['key']}-{name}"
            assert len(pd.read_parquet(stem.with_suffix(".parquet"))) == len(rows) == len(pd.read_csv(f"{stem}.csv"))
    assert "done" in err or "written" in err  # the progress bar went to stderr


def test_model_and_study_select_their_rounds(analyze: Run, store: Store, tmp_path: Path) -> None:
    _, sims, study = store
    assert analyze("--model", "sim-bb", "--out", str(tmp_path / "m"))[0] == 0
    twin = json.loads((tmp_path / "m" / "report.json").read_text())
    assert twin["covers"]["models"] == ["sim-bb"] and twin["covers"]["rounds"] == sims[1].n_rounds
    units = {r["unit_id"] for r in section(twin, "difficulty")["tables"]["units"]}
    assert units and units <= set(sims[1].unit_ids)
    assert analyze("--study", study, "--out", str(tmp_path / "s"))[0] == 0
    twin = json.loads((tmp_path / "s" / "report.json").read_text())
    assert twin["title"] == f"study {study}" and twin["covers"]["studies"] == [study]
    assert twin["covers"]["rounds"] == 40 * 10  # the study's 40 games of 10 rounds


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--study", "no-such-study"], "error: no study 'no-such-study' in the gameplay store"),
        (["--model", "no-such-model"], "error: no model 'no-such-model' in the gameplay store"),
    ],
)
def test_an_unknown_selection_is_one_line_and_exit_2(
    analyze: Run, tmp_path: Path, args: list[str], message: str
) -> None:
    code, _, err = analyze(*args, "--out", str(tmp_path / "r"))
    assert code == 2 and err.strip().startswith(message) and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()  # nothing is written for a bad request


def test_an_unwritable_out_is_one_line_and_exit_2(analyze: Run, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    for out, message in ((blocker, "is a file"), (blocker / "sub", "cannot write the report to")):
        code, _, err = analyze("--out", str(out))
        assert code == 2 and message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert blocker.read_text() == "not a folder"


def test_analyze_has_help_and_works_as_a_group_callback(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lead makes ``analyze`` the callback of an ``analyze`` group (with ``power``): a subcommand must
    then run alone, and the bare group must still write the report."""
    monkeypatch.setenv("MIRRORNEURON_DATABASE_URL", store[0])
    runner = CliRunner()
    assert "--study" in runner.invoke(app, ["analyze", "--help"]).output
    group = typer.Typer()
    group.callback(invoke_without_command=True)(analyze_command)
    ran: list[str] = []
    group.command("power")(lambda: ran.append("power"))
    res = runner.invoke(group, ["--out", str(tmp_path / "sub"), "power"])
    assert res.exit_code == 0 and ran == ["power"] and not (tmp_path / "sub" / "index.html").exists()
    res = runner.invoke(group, ["--out", str(tmp_path / "bare")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "bare" / "index.html").exists()
