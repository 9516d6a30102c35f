"""The command line's sweep commands: ``zoo sweep SWEEP.yaml`` (train a grid of zoo configs, resumable) and
``zoo sweep-bots SWEEP.yaml`` (every offline bot × every sweep model × levels 0–3, imitability per knob)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from mirrorneuron.console import progress
from mirrorneuron.types import UserError

console = Console()
SweepArg = Annotated[
    Path, typer.Argument(help="sweep file (YAML), e.g. the shipped one: `default`", show_default=False)
]


def spec_path(arg: Path) -> Path:
    """``default`` (or any shipped sweep's name) means the sweep file inside the package."""
    from mirrorneuron.gameplay.sweep_bots import sweep_file

    return sweep_file(arg)


def _fmt(x: Any) -> str:
    return "" if x is None else f"{x:.3f}" if isinstance(x, float) else str(x)


def _models_table(rows: list[dict[str, Any]]) -> Table:
    table = Table("model", "status", "val loss", "unigram", "val acc", "params", "seconds")
    for r in rows:
        a = r["attributes"]
        table.add_row(
            r["name"],
            r["status"],
            *(_fmt(a.get(k)) for k in ("val_loss", "unigram_val_loss", "val_accuracy", "params", "train_seconds")),
        )
    return table


def sweep_cmd(
    sweep: SweepArg,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="list the models without training")] = False,
) -> None:
    """Train every model of a sweep into the zoo (skips finished ones; resumable after a kill) and register
    each in the gameplay store with its knobs and capability."""
    from mirrorneuron.config import settings
    from mirrorneuron.models.sweep import expand, is_trained, load_spec, run_sweep

    spec = load_spec(spec_path(sweep))
    models = expand(spec)
    if dry_run:
        table = Table("model", "knobs", "seed", "steps", "trained")
        for m in models:
            knobs = ", ".join(f"{k}={v}" for k, v in m.knobs.items())
            table.add_row(
                m.name,
                knobs,
                str(m.config.seed),
                str(m.config.steps),
                "yes" if is_trained(m, settings().zoo_dir) else "no",
            )
        console.print(table)
        console.print(f"{len(models)} models; nothing trained (--dry-run)")
        return
    from mirrorneuron.gameplay.local import local_store
    from mirrorneuron.gameplay.sweep_bots import register_models
    from mirrorneuron.models.sweep import SweepEvent

    with progress(info=True) as p:
        overall = p.add_task(f"sweep {spec.name}", total=len(models), info="")

        def show(e: SweepEvent) -> None:
            if e.status == "training":
                frac = e.step / e.steps if e.steps else 0.0
                p.update(overall, completed=e.index + frac, info=f"{e.name} step {e.step}/{e.steps} loss {e.loss:.3f}")
            else:
                p.update(overall, completed=e.index + 1, info=f"{e.name} {e.status}")

        rows = run_sweep(spec, show)
    with local_store() as s:
        register_models(s, [r["name"] for r in rows])
    console.print(_models_table(rows))
    console.print(f"[green]sweep {spec.name}[/]: {len(rows)} models registered with their attributes")


def sweep_bots_cmd(
    sweep: SweepArg,
    units: Annotated[int, typer.Option(min=1, help="lively neurons drawn per model")] = 6,
    rounds: Annotated[int, typer.Option(min=2, help="held-out rounds per unit and level")] = 40,
    windows: Annotated[int, typer.Option(min=16, help="harvest windows per text model")] = 1000,
    seed: Annotated[int, typer.Option(help="seed for the units and the rounds")] = 0,
    trained_only: Annotated[
        bool, typer.Option("--trained-only", help="play the models trained so far instead of requiring all")
    ] = False,
    jobs: Annotated[int, typer.Option(min=1, help="models played at once, in worker processes")] = 1,
) -> None:
    """All offline bots × every sweep model × levels 0–3 on held-out rounds: stores the bots' games, prints
    and writes (CSV + PNG) bot imitability per training-knob value next to validation loss."""
    from mirrorneuron.analysis.sweeps import imitability_by_knob, plot_imitability, write_csv
    from mirrorneuron.gameplay.local import local_store
    from mirrorneuron.gameplay.sweep_bots import BotRun, play_model, register_bots, register_models
    from mirrorneuron.models.sweep import expand, load_spec, read_manifest, sweep_dir

    spec = load_spec(spec_path(sweep))
    manifest = read_manifest(spec.name)
    done = {m["name"] for m in manifest["models"]}
    missing = [m.name for m in expand(spec) if m.name not in done]
    if missing and not trained_only:
        raise UserError(
            f"{len(missing)} model(s) of sweep {spec.name} are not trained (e.g. {missing[0]}); "
            f"run `mirrorneuron zoo sweep {sweep}` first (or play the trained ones: --trained-only)"
        )
    run = BotRun(units=units, rounds=rounds, windows=windows, seed=seed)
    plays: list[dict[str, Any]] = []
    with (
        local_store() as s,
        progress("{task.description}") as p,
    ):
        task = p.add_task("bots", total=len(done))
        names = [m["name"] for m in manifest["models"]]
        register_models(s, names)
        register_bots(s, run.bots)
        if jobs == 1:
            for name in names:
                plays += play_model(s, name, run, lambda msg: p.update(task, description=msg))
                p.advance(task)
        else:
            plays = _play_in_workers(names, run, jobs, lambda name: p.update(task, advance=1, description=name))
    out = sweep_dir(spec.name)
    rows = imitability_by_knob(plays, manifest)
    write_csv(plays, out / "bot_plays.csv")
    write_csv(rows, out / "imitability.csv")
    plot_imitability(rows, out / "imitability.png")
    console.print(_imitability_table(rows))
    console.print(f"[green]wrote[/] {out / 'imitability.csv'}, {out / 'imitability.png'} and {out / 'bot_plays.csv'}")


def _play_in_workers(names: list[str], run: Any, jobs: int, done: Any) -> list[dict[str, Any]]:
    """Each model played in one of ``jobs`` worker processes; the rows in model order, as one process gives."""
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from multiprocessing import get_context

    from mirrorneuron.gameplay.sweep_bots import play_model_alone

    by_model: dict[str, list[dict[str, Any]]] = {}
    with ProcessPoolExecutor(jobs, mp_context=get_context("spawn")) as pool:
        futures = {pool.submit(play_model_alone, name, run): name for name in names}
        for f in as_completed(futures):
            by_model[futures[f]] = f.result()
            done(futures[f])
    return [row for name in names for row in by_model[name]]


def _imitability_table(rows: list[dict[str, Any]]) -> Table:
    pooled = [r for r in rows if r["level"] == "all"]
    bots = list(dict.fromkeys(r["bot"] for r in pooled))
    table = Table("knob", "value", "models", "val loss", "unigram", *(f"{b} corr" for b in bots))
    for knob, value in dict.fromkeys((r["knob"], str(r["value"])) for r in pooled):
        sel = {r["bot"]: r for r in pooled if r["knob"] == knob and str(r["value"]) == value}
        first = next(iter(sel.values()))
        table.add_row(
            knob,
            value,
            str(first["models"]),
            _fmt(first["val_loss"]),
            _fmt(first["unigram_val_loss"]),
            *(
                f"{sel[b]['correlation']:.2f} [{sel[b]['ci_low']:.2f}, {sel[b]['ci_high']:.2f}]" if b in sel else ""
                for b in bots
            ),
        )
    return table


def register_sweep_commands(zoo_app: typer.Typer) -> None:
    zoo_app.command("sweep")(sweep_cmd)
    zoo_app.command("sweep-bots")(sweep_bots_cmd)
