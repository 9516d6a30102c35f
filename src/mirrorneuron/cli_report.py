"""`mirrorneuron analyze`: the analysis report of the gameplay store (HTML + Parquet / CSV tables + JSON)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from mirrorneuron.console import progress
from mirrorneuron.types import UserError

if TYPE_CHECKING:
    from mirrorneuron.analysis.report import Report

console = Console()
DEFAULT_OUT = Path("mirrorneuron-report")


def _check_writable(out: Path) -> None:
    """Fail before the slow part when ``out`` cannot hold the report."""
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file; give a folder for the report")
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as e:
        raise UserError(f"cannot write the report to {out}: {e.strerror or e}") from None


def analyze(
    ctx: typer.Context,
    study: Annotated[str | None, typer.Option(help="only this study's rounds (its id)")] = None,
    model: Annotated[str | None, typer.Option(help="only rounds on this model's units")] = None,
    out: Annotated[Path, typer.Option(help="folder for index.html, report.json and the tables")] = DEFAULT_OUT,
) -> None:
    """Analyse the gameplay store: unit difficulty, level effects, player skill, … as a self-contained HTML
    report (figures inlined) with every table as Parquet and CSV and a JSON twin (report.json)."""
    if ctx.invoked_subcommand is not None:  # used as a group's callback: the subcommand does the work
        return
    from mirrorneuron.analysis.report import (
        SECTION_BUILDERS,
        build_report,
        check_selection,
        load_data,
        period,
        write_report,
    )
    from mirrorneuron.store.db import make_engine, migrate

    engine = make_engine()
    try:
        migrate(engine)
        check_selection(engine, study, model)
        _check_writable(out)
        with progress() as bar:
            task = bar.add_task("loading rounds", total=len(SECTION_BUILDERS) + 3)  # load, fit, sections, write
            data = load_data(engine, study, model)
            bar.update(task, advance=1, description=f"fitting {len(data.human_rounds):,} human rounds")

            def step(name: str) -> None:
                bar.update(task, advance=1, description=f"{name} done")

            report = build_report(data, progress=step)
            report.covers.update(period(engine, study, model))
            bar.update(task, description="writing")
            index = write_report(report, out)
            bar.update(task, advance=1, description="written")
    finally:
        engine.dispose()
    _done(report, index)


def _done(report: Report, index: Path) -> None:
    missing = sum(not s.enough_data for s in report.sections)
    console.print(
        f"[green]report[/] {index} ({len(report.sections)} sections, {missing} without a result; "
        f"{report.covers['rounds']:,} rounds)",
        soft_wrap=True,
    )


def demo(
    out: Annotated[Path, typer.Option(help="folder for the demo report")] = Path("mirrorneuron-demo-report"),
    players: Annotated[int, typer.Option(min=10, max=100_000, help="simulated players")] = 300,
    units: Annotated[int, typer.Option(min=8, max=20_000, help="simulated units")] = 40,
    seed: Annotated[int, typer.Option(help="simulation seed")] = 0,
) -> None:
    """The report on simulated gameplay with planted truths (players, units, two bots, models that differ in
    activation, planted finders): every section with data, before any study has run. Touches no store."""
    from mirrorneuron.analysis.demo import demo_data
    from mirrorneuron.analysis.report import build_report, write_report

    _check_writable(out)
    with console.status("simulating and fitting …"):
        report = build_report(demo_data(players, units, seed))
        index = write_report(report, out)
    _done(report, index)
