"""`mirrorneuron finders list|run`: automated unit finders over a model's harvest, scores stored per unit."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.console import Console
from rich.table import Column, Table

from mirrorneuron.config import settings
from mirrorneuron.console import progress
from mirrorneuron.types import UserError

finders_app = typer.Typer(help="Automated unit finders: score every unit of a model.", no_args_is_help=True)
console = Console()


@finders_app.command("list")
def finders_list() -> None:
    """The registered finders (the shipped ones; add yours with --finder mypkg.mod:MyFinder)."""
    from mirrorneuron.finders import available

    table = Table("finder", "version", "slow", "what it scores")
    for f in available().values():
        table.add_row(f.name, f.version, "yes" if f.slow else "", f.describe)
    console.print(table)


def _fmt(x: float) -> str:
    return f"{x:.3g}" if np.isfinite(x) else "—"


@finders_app.command("run")
def finders_run(
    model: Annotated[
        str | None, typer.Argument(help="zoo or registered model (default: the default text model)")
    ] = None,
    finder: Annotated[
        list[str] | None, typer.Option("--finder", "-f", help="finder name or mypkg.mod:MyFinder (repeatable)")
    ] = None,
    all_: Annotated[
        bool, typer.Option("--all", help="also the slow finders (bots at levels 2–3 run the model)")
    ] = False,
    site: Annotated[
        list[str] | None, typer.Option(help="site to score (repeatable; default: the neuron sites)")
    ] = None,
    harvest: Annotated[Path | None, typer.Option(help="harvest folder (default: the model's default harvest)")] = None,
) -> None:
    """Score every unit of MODEL with the chosen finders (default: all but the slow ones) and store the scores."""
    from mirrorneuron.finders import select
    from mirrorneuron.gameplay.finding import run_finders
    from mirrorneuron.gameplay.local import local_store

    name = model or settings().default_text_model
    chosen = select(finder or (), slow=all_)  # unknown finders fail here, before any harvesting
    if not chosen:
        raise UserError("no finders chosen")
    with progress(transient=True) as bar:
        task = bar.add_task("finders", total=None)

        def update(done: int, total: int, label: str) -> None:
            bar.update(task, completed=done, total=total, description=label)

        with local_store() as s:
            runs = run_finders(s, name, chosen, harvest, update, site or ())
    for site_name in dict.fromkeys(r.site for r in runs):
        table = Table(Column("finder", no_wrap=True), "scored", "mean", "median", "min", "max", "s", title=site_name)
        for r in (r for r in runs if r.site == site_name):
            ok = r.scores[np.isfinite(r.scores)]
            stats = [float(f(ok)) if ok.size else float("nan") for f in (np.mean, np.median, np.min, np.max)]
            table.add_row(r.finder, f"{ok.size}/{r.scores.size}", *map(_fmt, stats), f"{r.seconds:.1f}")
        console.print(table)
    console.print(f"stored {sum(r.scores.size for r in runs)} scores of model {name}", soft_wrap=True)
