"""``mirrorneuron buildout modules MODEL``: group a model's units into modules and score the grouping."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from mirrorneuron.cli_buildout.app import buildout_app
from mirrorneuron.console import progress

console = Console()
err = Console(stderr=True)
SHOWN_UNITS = 6


@buildout_app.command("modules")
def modules(
    model: Annotated[str, typer.Argument(help="zoo or registered model, e.g. tiny-gelu or digits-mlp")],
    site: Annotated[
        list[str] | None, typer.Option("--site", help="site whose units to group (repeatable; default: neuron sites)")
    ] = None,
    k: Annotated[
        int | None, typer.Option("--k", help="number of modules (default: the best modularity of 2–8)")
    ] = None,
    mix: Annotated[float, typer.Option(help="affinity = mix · weight + (1 − mix) · co-activation")] = 0.5,
    plot: Annotated[Path | None, typer.Option(help="write a PNG of the unit graph coloured by module")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the module set as JSON instead of tables")] = False,
) -> None:
    """Find modules among MODEL's units: spectral clustering of weights and co-activation, with Newman
    modularity beside a random grouping of the same sizes."""
    from mirrorneuron.buildout.graph import model_graph
    from mirrorneuron.buildout.modules import find_modules, plot_modules

    with progress(transient=True) as bar:
        task = bar.add_task("harvest", total=None)

        def stage(label: str) -> Callable[[int, int], None]:
            def update(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total, description=label)

            return update

        graph = model_graph(model, site or (), mix, stage("harvest"))
        found = find_modules(graph, k, progress=stage("clustering"))
    if plot is not None:
        (err if as_json else console).print(f"wrote {plot_modules(found, plot)}", soft_wrap=True)
    if as_json:
        typer.echo(json.dumps(found.to_dict()))
        return
    table = Table("module", "size", "units by site", "internal", "external", title=f"{model}: modules")
    for m in found.modules:
        by_site = Counter(graph.nodes[n][0] for n in m.nodes)
        first = [f"#{graph.nodes[n][1]}" for n in m.nodes[:SHOWN_UNITS]]
        units = ", ".join(f"{s} ×{c}" for s, c in by_site.items()) + f" ({' '.join(first)} …)"
        table.add_row(str(m.index), str(len(m.units)), units, f"{m.internal:.2f}", f"{m.external:.2f}")
    console.print(table)
    console.print(
        f"modularity Q = {found.modularity:.3f} vs {found.baseline_modularity:.3f} for a random grouping of the "
        f"same sizes ({len(found.modules)} modules, {len(graph.nodes)} units, mix {graph.mix})",
        soft_wrap=True,
    )
