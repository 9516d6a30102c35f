"""`mirrorneuron models …`: register models from outside the zoo (Hugging Face, TransformerLens) and list them."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from mirrorneuron.types import UserError

models_app = typer.Typer(
    help="Real models beyond the zoo: built-in SmolLM2 / MiniLM and your own Hugging Face or TransformerLens models.",
    no_args_is_help=True,
)
console = Console()


def _layers(text: str) -> list[int] | None:
    if not text.strip():
        return None
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise UserError(f"--layers takes comma-separated layer numbers, e.g. 3,7 (got {text!r})") from None


@models_app.command("add")
def models_add(
    source: Annotated[str, typer.Argument(help="hf:PATH_OR_NAME (a local folder or a hub name) or tl:NAME")],
    name: Annotated[str, typer.Option(help="the name the rest of the tool uses (default: from the source)")] = "",
    layers: Annotated[
        str, typer.Option(help="layers that get a blocks.N.mlp.post site, e.g. 3,7 (default: two of them)")
    ] = "",
    n_ctx: Annotated[int, typer.Option(help="harvest window in tokens (custom text is cut to it)")] = 64,
    check: Annotated[bool, typer.Option(help="load the model once to check it works")] = True,
) -> None:
    """Register a model so every command (harvest, play, bots, activations, probes …) can use it by name."""
    from mirrorneuron.models.registry import add_model, registered_adapter

    entry = add_model(source, name or None, _layers(layers), n_ctx, check)
    console.print(f"[green]registered[/] {entry.name} ← {entry.source}")
    if check:
        adapter = registered_adapter(entry.name)
        assert adapter is not None
        sites = [s for s in adapter.site_names() if s.endswith("mlp.post")]
        console.print(f"neuron sites: {', '.join(f'{s} ({adapter.width(s)})' for s in sites)}")


@models_app.command("list")
def models_list() -> None:
    """The built-in real models (and whether their wheels are installed) and the registered models."""
    from mirrorneuron.models.registry import model_rows

    table = Table("name", "source", "status")
    for row in model_rows():
        table.add_row(row["name"], row["source"], row["status"])
    console.print(table)
    console.print("zoo models: `mirrorneuron zoo list`")


@models_app.command("remove")
def models_remove(name: str) -> None:
    """Forget a registered model (its harvests stay on disk)."""
    from mirrorneuron.models.registry import remove_model

    remove_model(name)
    console.print(f"[green]removed[/] {name}")


@models_app.command("sites")
def models_sites(model: str) -> None:
    """A model's sites and their widths (any model: zoo, built-in or registered)."""
    from mirrorneuron.models.loader import zoo_adapter

    adapter = zoo_adapter(model)
    table = Table("site", "width", "level 3")
    for s in adapter.site_names():
        site = adapter.sites[s]
        table.add_row(s, str(site.width), site.act or "")
    console.print(table)
