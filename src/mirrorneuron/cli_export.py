"""`mirrorneuron export`: raw gameplay (one row per guess, joined with rounds, games, players, units, levels,
models and examples) from the configured store to Parquet, CSV or JSON Lines, streamed."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from mirrorneuron.console import progress as progress_bar
from mirrorneuron.types import UserError


def _writable(out: Path) -> None:
    """UserError unless ``out`` can be written (checked before the query runs)."""
    if out.is_dir():
        raise UserError(f"--out {out} is a directory; give a file path, e.g. {out / 'gameplay.parquet'}")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"cannot create the folder of --out {out}: {e.strerror}") from None
    if not os.access(out.parent, os.W_OK):
        raise UserError(f"cannot write --out {out}: {out.parent} is not writable")


def export(
    fmt: Annotated[str, typer.Option("--format", help="parquet, csv or jsonl")],
    out: Annotated[Path, typer.Option(help="the file to write (replaced atomically)")],
    study: Annotated[str | None, typer.Option(help="only this study's games")] = None,
    model: Annotated[str | None, typer.Option(help="only this model's units")] = None,
    players: Annotated[str, typer.Option(help="all, human or bot")] = "all",
    design: Annotated[
        str | None, typer.Option(help="only games of this design (casual, between, within, bots, simulated)")
    ] = None,
    examples: Annotated[bool, typer.Option(help="include each example's text / pixels")] = True,
) -> None:
    """Export raw gameplay: every guess with its round, game, player, unit, level, model (attributes as
    model_* columns) and example (the marked text, target token, tokens or pixels). docs/analysis.md#data."""
    from mirrorneuron.store.db import make_engine, migrate
    from mirrorneuron.store.errors import NotFound
    from mirrorneuron.store.export import Gameplay, Selection, check_format, write_batches

    try:
        check_format(fmt)
        selection = Selection(study, model, players, design)
    except ValueError as e:
        raise UserError(str(e)) from None
    _writable(out)
    engine = make_engine()
    try:
        migrate(engine)
        with engine.connect() as conn:
            try:
                gameplay = Gameplay(conn, selection, with_examples=examples, nested=fmt != "csv")
            except NotFound as e:
                raise UserError(str(e)) from None
            total = gameplay.count()
            with progress_bar("[bold]export") as progress:
                task = progress.add_task("export", total=total)
                try:
                    n = write_batches(
                        gameplay.schema, gameplay.batches(), out, fmt, lambda k: progress.advance(task, k)
                    )
                except OSError as e:
                    raise UserError(f"cannot write --out {out}: {e.strerror or e}") from None
    finally:
        engine.dispose()
    Console().print(f"wrote {n} rows ({len(gameplay.schema)} columns) to {out}")
