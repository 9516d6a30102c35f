"""The ``mirrorneuron buildout`` command group; its commands live in the sibling modules."""

from __future__ import annotations

import typer

buildout_app = typer.Typer(
    help="Build-out: imitations, explanations, splicing and modules — from one unit to a module.",
    no_args_is_help=True,
)
