"""The `mirrorneuron` command line: thin wrappers that parse, call library functions and print with rich."""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Column, Table

from mirrorneuron.cli_analysis import analyze_app
from mirrorneuron.cli_buildout import buildout_app
from mirrorneuron.cli_export import export
from mirrorneuron.cli_finders import finders_app
from mirrorneuron.cli_models import models_app
from mirrorneuron.cli_report import analyze, demo
from mirrorneuron.cli_sweep import register_sweep_commands
from mirrorneuron.cli_units import directions_app, probes_app, sae_app, units_app
from mirrorneuron.config import BUILTIN_ZOO, settings
from mirrorneuron.console import progress_bar
from mirrorneuron.types import UserError

if TYPE_CHECKING:
    from mirrorneuron.units import UnitView

app = typer.Typer(
    help="Interpretability as a game: imitate one unit of a neural network.",
    no_args_is_help=True,
    add_completion=False,
)
bots_app = typer.Typer(help="Bots that play the same rounds with the same metric.", no_args_is_help=True)
zoo_app = typer.Typer(
    help="The model zoo: list, train and inspect the project's own small models.", no_args_is_help=True
)
app.add_typer(zoo_app, name="zoo")
register_sweep_commands(zoo_app)  # zoo sweep SWEEP.yaml, zoo sweep-bots SWEEP.yaml
app.add_typer(bots_app, name="bots")
app.add_typer(units_app, name="units")  # units show ID
app.add_typer(probes_app, name="probes")  # probes train|list|concepts
app.add_typer(sae_app, name="sae")  # sae train|import|list
app.add_typer(directions_app, name="directions")  # directions add|list
analyze_app.callback(invoke_without_command=True)(analyze)  # analyze [--study S] [--model M] [--out DIR]
analyze_app.command("demo")(demo)  # analyze demo: the report on simulated gameplay
app.add_typer(analyze_app, name="analyze")  # analyze power | demo
app.add_typer(models_app, name="models")  # models add hf:PATH | tl:NAME, list, remove, sites
app.command("export")(export)  # export --format parquet|csv|jsonl --out PATH [--study --model --players]
app.add_typer(finders_app, name="finders")  # finders list|run
app.add_typer(buildout_app, name="buildout")  # buildout imitate|explain|splice|modules …
console = Console()


# --- zoo ----------------------------------------------------------------------------------------------
@zoo_app.command("list")
def zoo_list() -> None:
    """List the zoo: name, task, activation, parameters, validation figures, trained or not."""
    from mirrorneuron.models.transformer import n_params
    from mirrorneuron.models.zoo import REGISTRY, checkpoint_dir, read_metrics

    table = Table(Column("name", no_wrap=True), "task", "act", "params", "val loss", "acc / unigram", "trained")
    for name, cfg in REGISTRY.items():
        path = checkpoint_dir(name)
        m = read_metrics(path) if path else {}
        extra = m.get("val_accuracy", m.get("unigram_val_loss", ""))
        trained = ("shipped" if path.is_relative_to(BUILTIN_ZOO) else "yes") if path else "no"
        table.add_row(
            name,
            cfg.task,
            cfg.activation,
            f"{m.get('params') or n_params(cfg.build()):,}",
            str(m.get("val_loss", "")),
            str(extra),
            trained,
        )
    console.print(table)


@zoo_app.command("show")
def zoo_show(name: str) -> None:
    """Show a zoo entry's full training config, metrics and sites."""
    from mirrorneuron.models.sites import find_sites
    from mirrorneuron.models.zoo import checkpoint_dir, read_metrics, zoo_config

    cfg = zoo_config(name)
    path = checkpoint_dir(name)
    console.print(f"[bold]{cfg.name}[/] — {cfg.description}")
    console.print_json(cfg.model_dump_json())
    console.print(f"[bold]checkpoint:[/] {path or 'not trained'}")
    if path:
        console.print_json(data=read_metrics(path))
    sites = find_sites(cfg.build())
    console.print("[bold]sites:[/] " + ", ".join(f"{n} ({s.width})" for n, s in sites.items()))


@zoo_app.command("train")
def zoo_train(
    name: str,
    steps: Annotated[
        int | None,
        typer.Option(help="override the config's number of steps (the result is then not the zoo model)"),
    ] = None,
    out: Annotated[Path | None, typer.Option(help="checkpoint folder (default: $MIRRORNEURON_HOME/zoo/NAME)")] = None,
) -> None:
    """Train a zoo model from its config (deterministic for the config's seed)."""
    from mirrorneuron.models.train import train
    from mirrorneuron.models.zoo import zoo_config

    cfg = zoo_config(name)
    if steps is not None:
        if steps < 1:
            raise UserError("--steps must be at least 1")
        cfg = cfg.model_copy(update={"steps": steps})
    target = out or settings().zoo_dir / name
    with progress_bar(f"training {name}") as p:
        metrics = train(
            cfg,
            target,
            lambda s, n, loss: p.update(p.task_ids[0], completed=s, total=n, info=f"loss {loss:.3f}"),
        )
    console.print(f"[green]saved[/] {target}")
    console.print_json(data=metrics)


# --- harvest ------------------------------------------------------------------------------------------
@app.command("harvest")
def harvest_cmd(
    model: str,
    corpus: Annotated[
        str, typer.Option(help="built-in corpus (austen, digits; default: the model's) or a UTF-8 text file/folder")
    ] = "",
    sites: Annotated[str, typer.Option(help="comma-separated sites (default: the neuron sites)")] = "",
    out: Annotated[
        Path | None, typer.Option(help="harvest folder (default: $MIRRORNEURON_HOME/harvests/MODEL)")
    ] = None,
    max_windows: Annotated[
        int | None, typer.Option(help="windows spread over the corpus; 0 = all (default: 2000, real models fewer)")
    ] = None,
    batch_size: Annotated[
        int | None, typer.Option(min=1, help="windows per forward pass (default: as in a game's harvest)")
    ] = None,
    shard_windows: Annotated[
        int | None, typer.Option(min=1, help="windows per shard, the unit of resumption (default: as a game's)")
    ] = None,
    force: Annotated[bool, typer.Option(help="overwrite an existing harvest folder")] = False,
    engine: Annotated[
        str, typer.Option(help="where the forward passes run: local, or ray (pip install 'mirrorneuron[ray]')")
    ] = "local",
    address: Annotated[
        str | None, typer.Option(help="with --engine ray: the Ray cluster to join (default: start a local one)")
    ] = None,
) -> None:
    """Stream a corpus through MODEL: per-unit stats, quantiles, top-k, random sample and an activation cache.

    With no options this is the harvest a game of MODEL makes on first use (and finds again)."""
    from mirrorneuron.harvest.run import default_spec, harvest
    from mirrorneuron.models.loader import zoo_adapter
    from mirrorneuron.units.data import default_harvest_dir

    adapter = zoo_adapter(model)
    given = {"corpus": corpus or None, "batch_size": batch_size, "shard_windows": shard_windows}
    overrides: dict[str, Any] = {k: v for k, v in given.items() if v is not None}
    if max_windows is not None:
        overrides["max_windows"] = max_windows or None  # 0 = all
    spec = default_spec(adapter, sites=tuple(s.strip() for s in sites.split(",") if s.strip()), **overrides)
    target = out or default_harvest_dir(model)
    with progress_bar(f"harvesting {model}") as p:

        def bar(done: int, total: int) -> None:
            p.update(p.task_ids[0], completed=done, total=total)

        h = harvest(adapter, spec, target, bar, force=force, engine=engine, address=address)
    console.print(
        f"[green]harvest ready[/] {h.path}: {h.n_examples:,} examples × {sum(h.width(s) for s in h.sites):,} units "
        f"at {', '.join(h.sites)}"
    )


@app.command("activations")
def activations_cmd(
    model: str,
    site: str,
    index: int,
    text: Annotated[str, typer.Option(help="custom text (text models)")] = "",
) -> None:
    """Compute one unit on fresh input, token by token, without a harvest."""
    from mirrorneuron.models.loader import zoo_adapter

    adapter = zoo_adapter(model)
    if adapter.modality != "text":
        raise UserError("activations on custom input: only text models for now; use the Python API for images")
    ids = adapter.encode(text)
    acts = adapter.activations(ids[None], site)[0, :, index] if 0 <= index < adapter.width(site) else None
    if acts is None:
        raise UserError(f"unit index {index} out of range for {site} (0..{adapter.width(site) - 1})")
    table = Table("position", "token", "activation")
    for i, (tok, a) in enumerate(zip(adapter.tokens(ids), acts, strict=True)):
        table.add_row(str(i), repr(tok), f"{a:+.3f}")
    console.print(table)


# --- the game -----------------------------------------------------------------------------------------
def _open(model: str, unit: str | None, seed: int | None) -> UnitView:
    from mirrorneuron.cli_play import open_ahead

    return open_ahead(model, unit, seed)()


def _level(level: str, rounds: int) -> int:
    """Check the game options before any slow work."""
    from mirrorneuron.game import Level

    if rounds < 1:
        raise UserError("--rounds must be at least 1")
    try:
        return int(Level.parse(level))
    except ValueError as e:
        raise UserError(str(e)) from None


ModelOpt = Annotated[str, typer.Option("--model", "-m", help="zoo model (tiny-gelu: text, digits-mlp: images)")]
UnitOpt = Annotated[
    str | None, typer.Option("--unit", "-u", help="unit id MODEL/SITE/neuron/I or SITE/I; default: a random one")
]
LevelOpt = Annotated[str, typer.Option("--level", "-l", help="0 blind, 1 examples, 2 neighbours, 3 weights")]
RoundsOpt = Annotated[int, typer.Option("--rounds", "-n", help="rounds to play")]
SeedOpt = Annotated[int | None, typer.Option(help="seed for the unit choice and the rounds")]


@app.command("play")
def play_cmd(
    model: ModelOpt = "tiny-gelu",
    unit: UnitOpt = None,
    random: Annotated[
        bool, typer.Option("--random", help="pick a random unit (the default when --unit is not given)")
    ] = False,
    level: LevelOpt = "1",
    rounds: RoundsOpt = 10,
    seed: SeedOpt = None,
    terminal: Annotated[
        bool, typer.Option("--terminal", help="play in this terminal instead of the browser")
    ] = False,
    feedback: Annotated[bool, typer.Option(help="reveal the truth after each guess")] = True,
    port: Annotated[int, typer.Option(help="browser game: the local port to serve on")] = 8000,
) -> None:
    """Play: guess a unit's activation on each example, see the truth, learn the unit (in the browser by
    default: starts the web game on http://127.0.0.1:PORT and opens it). Terminal games are stored too."""
    from mirrorneuron.cli_play import harvest_ahead, open_ahead, play_in_terminal, random_seed

    if random and unit:
        raise UserError("give either --unit or --random, not both")
    lvl = _level(level, rounds)
    if not terminal:
        from mirrorneuron.models.loader import zoo_adapter

        adapter = zoo_adapter(model)  # an unknown model: a one-line error now, not a server started for nothing
        harvest_ahead(adapter, unit)  # the first game's harvest, while the server starts
        _play_in_browser(port, model=model, unit=unit or "", level=str(lvl), rounds=str(rounds))
        return
    seed = random_seed() if seed is None else seed
    play_in_terminal(console, open_ahead(model, unit, seed), lvl, rounds, seed, feedback)


def _play_in_browser(port: int, **query: str) -> None:
    import webbrowser
    from urllib.parse import urlencode

    from mirrorneuron.web.serve import browser_url, serve

    url = browser_url("127.0.0.1", port, "/?" + urlencode({k: v for k, v in query.items() if v}))

    def open_browser() -> None:
        console.print(f"[bold]mirrorneuron[/] is ready: {url}  (Ctrl-C stops it)", soft_wrap=True)
        with contextlib.suppress(Exception):  # no browser on this machine: the printed URL is enough
            webbrowser.open(url)

    console.print(f"starting the web game on {url} …", soft_wrap=True)
    serve("127.0.0.1", port, 1, on_ready=open_browser, log_level="warning")


@app.command("serve")
def serve_cmd(
    host: Annotated[str, typer.Option(help="interface to listen on (0.0.0.0: every interface)")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    workers: Annotated[int, typer.Option(help="worker processes (the database is migrated before they start)")] = 1,
) -> None:
    """Serve the web game and its JSON API with uvicorn (OpenAPI at /api/openapi.json)."""
    from mirrorneuron.web.serve import browser_url, serve

    url = browser_url(host, port)
    serve(host, port, workers, on_ready=lambda: console.print(f"[green]serving[/] {url}", soft_wrap=True))


@bots_app.command("run")
def bots_run(
    model: str,
    unit: Annotated[str, typer.Argument(help="unit id MODEL/SITE/neuron/I or SITE/I, or 'random'")],
    bot: Annotated[str, typer.Option(help="mean, unigram, knn, ridge, llm, or 'all' (the offline ones)")] = "all",
    level: LevelOpt = "1",
    rounds: RoundsOpt = 50,
    seed: SeedOpt = None,
    store: Annotated[bool, typer.Option(help="store the bots' games in the gameplay store")] = True,
) -> None:
    """Let bots play N held-out rounds of a unit, print their scores and store their games."""
    import numpy as np

    from mirrorneuron.cli_play import random_seed, run_bots
    from mirrorneuron.players import OFFLINE_BOT_NAMES, make_bot
    from mirrorneuron.players.data import BotData

    lvl = _level(level, rounds)
    names = list(OFFLINE_BOT_NAMES) if bot == "all" else [bot]
    for name in names:  # unknown names and a missing LLM configuration fail before the slow part
        make_bot(name, BotData(np.zeros(1)))
    seed = random_seed() if seed is None else seed
    run_bots(console, _open(model, None if unit == "random" else unit, seed), names, lvl, rounds, seed, store)


def main() -> None:
    """Entry point: user errors and bad arguments are one line on stderr and exit code 2, never a traceback."""
    # OpenMP's busy-waiting threads made torch 2-10x slower on a shared machine (docs/benchmarks.md, issue 14);
    # it reads this once, when torch loads, and no command imports torch before this line.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    err = Console(stderr=True)
    try:
        code = app(standalone_mode=False)  # returns the code of a typer.Exit (130 after Ctrl-C), else None
    except typer.TyperException as e:  # typer's public base of its usage errors and the like
        # A bare group (no_args_is_help) raises this one; typer tells it by name too, the class is private.
        if type(e).__name__ == "NoArgsIsHelpError":
            if e.format_message().strip():  # plain (non-rich) output: the help is the message
                print(e.format_message())
            return
        hint = " (see --help)" if e.exit_code == 2 else ""  # usage errors
        err.print(f"error: {e.format_message()}{hint}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(2)
    except UserError as e:
        err.print(f"error: {e}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(2)
    except (typer.Abort, KeyboardInterrupt):
        code = 130
    if code == 130:
        err.print("interrupted")
    if isinstance(code, int) and code:
        sys.exit(code)


if __name__ == "__main__":
    main()
