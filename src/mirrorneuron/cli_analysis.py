"""`mirrorneuron analyze power`: a study's power, by simulation. The report (``mirrorneuron analyze`` with no
subcommand, ``cli_report.analyze``) is this app's callback, joined in ``cli.py``."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from mirrorneuron.console import progress
from mirrorneuron.types import UserError

analyze_app = typer.Typer(
    help="Analyse gameplay: which units players imitate, learning, humans vs bots, finders, study power.",
    invoke_without_command=True,
)
console = Console()


@analyze_app.command("power")
def power_cmd(
    players: Annotated[int, typer.Option("--players", "-p", help="players in the study")],
    rounds: Annotated[int, typer.Option("--rounds", "-r", help="rounds each player plays")],
    difference: Annotated[
        float, typer.Option("--difference", "-d", help="difficulty difference to detect (score / 100 scale, e.g. 0.05)")
    ],
    units: Annotated[int, typer.Option("--units", "-u", help="units in the study (players spread over them)")] = 20,
    rounds_per_game: Annotated[int, typer.Option(help="rounds per game (one unit per game)")] = 10,
    alpha: Annotated[float, typer.Option(help="two-sided significance level of the test")] = 0.05,
    sims: Annotated[int, typer.Option(help="simulated studies (more: a tighter power estimate)")] = 200,
    noise: Annotated[float, typer.Option(help="per-round noise sd of score / 100")] = 0.1,
    seed: Annotated[int, typer.Option(help="seed of the first simulation")] = 0,
) -> None:
    """With P players × R rounds over U units: the chance the fit tells apart two units whose difficulty
    differs by d (simulated studies, the same skill × difficulty fit). Prints a table and a last JSON line."""
    from mirrorneuron.analysis.power import check_design, power
    from mirrorneuron.analysis.simulate import SimConfig

    if not (noise > 0 and noise < float("inf")):
        raise UserError(f"--noise must be a positive number, got {noise}")
    try:
        check_design(players, rounds, units, difference, alpha, sims, min(rounds_per_game, rounds))
    except ValueError as e:
        raise UserError(f"{e} (see mirrorneuron analyze power --help)") from None
    with progress(transient=True) as bar:
        task = bar.add_task("simulating studies", total=sims)
        result = power(
            players,
            rounds,
            units,
            difference,
            alpha=alpha,
            n_sims=sims,
            rounds_per_game=rounds_per_game,
            base=SimConfig(noise_sd=noise),
            seed=seed,
            progress=lambda done, _n: bar.update(task, completed=done),
        )
    table = Table("players", "rounds / player", "units", "difference", "α", "simulations", "power [95 %]")
    table.add_row(
        str(result.players),
        str(result.rounds_per_player),
        str(result.units),
        f"{result.difference:g}",
        f"{result.alpha:g}",
        str(result.n_sims),
        f"{result.power:.2f} [{result.lo:.2f}, {result.hi:.2f}]",
    )
    console.print(table)
    print(json.dumps({"command": "analyze power", **result.to_dict()}))
