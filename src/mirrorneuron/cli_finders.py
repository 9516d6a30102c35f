"""`mirrorneuron finders list|run|eval`: automated unit finders over a model's (or a sweep's) harvests, scores
stored per unit; `eval --sweep` ranks them by how well they predict held-out bot imitability."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

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
    sweep: Annotated[
        Path | None, typer.Option(help="every model of this sweep (e.g. `default`; resumable) instead of MODEL")
    ] = None,
    windows: Annotated[int, typer.Option(min=16, help="with --sweep: harvest windows per text model")] = 1000,
    played_only: Annotated[
        bool, typer.Option("--played-only", help="with --sweep: only the neurons `zoo sweep-bots` plays")
    ] = False,
    bot_units: Annotated[int, typer.Option(min=1, help="with --played-only: sweep-bots' --units")] = 6,
    jobs: Annotated[int, typer.Option(min=1, help="with --sweep: models scored at once, in worker processes")] = 1,
    rescore_missing: Annotated[
        bool,
        typer.Option(
            "--rescore-missing",
            help="with --sweep: also rerun a finder whose stored scores include a NULL (NaN), e.g. sae_alignment "
            "scored before the SAE was trained (by default a stored NULL counts as done: a dead unit stays NULL)",
        ),
    ] = False,
) -> None:
    """Score every unit of MODEL (or of every model of a --sweep) with the chosen finders (default: all but the
    slow ones) and store the scores."""
    from mirrorneuron.finders import select
    from mirrorneuron.gameplay.finding import run_finders
    from mirrorneuron.gameplay.local import local_store

    chosen = select(finder or (), slow=all_)  # unknown finders fail here, before any harvesting
    if not chosen:
        raise UserError("no finders chosen")
    if rescore_missing and sweep is None:
        raise UserError("--rescore-missing goes with --sweep (a run on one model scores every unit again anyway)")
    if sweep is not None:
        if model is not None or harvest is not None or site:
            raise UserError("--sweep scores every model of the sweep: leave out MODEL, --harvest and --site")
        _run_sweep(sweep, chosen, windows, played_only, bot_units, jobs, rescore_missing)
        return
    name = model or settings().default_text_model
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


def _trained_models(sweep: Path) -> list[str]:
    from mirrorneuron.gameplay.sweep_bots import sweep_file
    from mirrorneuron.models.sweep import expand, load_spec, read_manifest

    spec = load_spec(sweep_file(sweep))
    done = {m["name"] for m in read_manifest(spec.name)["models"]}
    names = [m.name for m in expand(spec) if m.name in done]
    if not names:
        raise UserError(f"no model of sweep {spec.name} is trained; run `mirrorneuron zoo sweep {sweep}` first")
    return names


def _run_sweep(
    sweep: Path, chosen: list[Any], windows: int, played_only: bool, bot_units: int, jobs: int, rescore_missing: bool
) -> None:
    from mirrorneuron.gameplay.finding import FinderRun, run_sweep_finders, score_model_alone
    from mirrorneuron.gameplay.local import local_store
    from mirrorneuron.gameplay.sweep_bots import BotRun

    names = _trained_models(sweep)
    played = BotRun(units=bot_units, windows=windows) if played_only else None
    runs: dict[str, list[FinderRun]] = {}
    with progress() as bar:
        task = bar.add_task("finders", total=None)

        def update(done: int, total: int, label: str) -> None:
            bar.update(task, completed=done, total=total, description=label)

        if jobs == 1:
            with local_store() as s:
                runs = run_sweep_finders(s, names, chosen, windows, update, played, rescore_missing)
        else:
            from concurrent.futures import ProcessPoolExecutor, as_completed
            from multiprocessing import get_context

            with ProcessPoolExecutor(jobs, mp_context=get_context("spawn")) as pool:
                finder_names = [f.name for f in chosen]
                args = (finder_names, windows, played, rescore_missing)
                futures = {pool.submit(score_model_alone, n, *args): n for n in names}
                for k, f in enumerate(as_completed(futures), 1):
                    runs[futures[f]] = f.result()
                    update(k, len(names), futures[f])
            runs = {n: runs[n] for n in names}
    table = Table("model", "finders run", "units", "s")
    for name, rs in runs.items():
        units = sum(r.scores.size for r in rs) // max(1, len({r.finder for r in rs}))
        table.add_row(name, str(len({r.finder for r in rs})) or "0", str(units), f"{sum(r.seconds for r in rs):.0f}")
    console.print(table)
    console.print(f"{len(names)} models scored by {len(chosen)} finders (models already scored were skipped)")


@finders_app.command("eval")
def finders_eval(
    sweep: Annotated[Path, typer.Option(help="the sweep (e.g. `default`) whose finder scores and bot plays to use")],
    out: Annotated[
        Path | None, typer.Option(help="folder for finders.csv / finders.png (default: the sweep's)")
    ] = None,
    boot: Annotated[int, typer.Option(min=10, help="bootstrap resamples")] = 1000,
    finder: Annotated[
        list[str] | None, typer.Option("--finder", "-f", help="only these stored finders (repeatable; default: all)")
    ] = None,
    target: Annotated[
        str,
        typer.Option(
            help="`bots`: the units `zoo sweep-bots` played, on rounds apart from the finders'; `finders`: every "
            "scored unit, the imitability finders' own rounds as the target (each imitability finder ranked "
            "against the other bots only) → finders_all*.csv / .png"
        ),
    ] = "bots",
) -> None:
    """Which finder best predicts held-out bot imitability across a sweep's models: Spearman per model and
    pooled with bootstrap 95 % intervals (CSV + PNG). Needs `finders run --sweep` and `zoo sweep-bots`."""
    import pandas as pd

    from mirrorneuron.analysis.sweep_finders import (
        finder_correlations,
        finder_plays,
        plot_finder_ranking,
        rank_finders,
    )
    from mirrorneuron.gameplay.local import local_store
    from mirrorneuron.gameplay.sweep_bots import sweep_file
    from mirrorneuron.models.sweep import load_spec, sweep_dir
    from mirrorneuron.store.scores import scores_frame

    if target not in ("bots", "finders"):
        raise UserError(f"--target must be `bots` or `finders`, not {target!r}")
    own_rounds = target == "finders"
    name = load_spec(sweep_file(sweep)).name
    names = _trained_models(sweep)
    with local_store() as s:
        scores = pd.concat([scores_frame(s, m) for m in names], ignore_index=True)
    plays_csv = sweep_dir(name) / "bot_plays.csv"
    if own_rounds:
        plays = finder_plays(scores)
        if plays.empty:
            raise UserError(
                f"no imitability scores for sweep {name}; run `mirrorneuron finders run --sweep {sweep} --all`"
            )
    elif not plays_csv.exists():
        raise UserError(f"no bot plays for sweep {name}; run `mirrorneuron zoo sweep-bots {sweep}` first")
    else:
        plays = pd.read_csv(plays_csv)
    if finder:
        scores = scores[scores["finder"].isin(finder)]
    if scores.empty:
        raise UserError(f"no finder scores for sweep {name}; run `mirrorneuron finders run --sweep {sweep}` first")
    corr = finder_correlations(scores, plays, n_boot=boot)
    folder = out or sweep_dir(name)
    folder.mkdir(parents=True, exist_ok=True)
    ranked = rank_finders(corr, own_rounds)
    stem = "finders_all" if own_rounds else "finders"
    paths = [folder / f"{stem}.csv", folder / f"{stem}_by_model.csv", folder / f"{stem}.png"]
    ranked.to_csv(paths[0], index=False)
    corr.to_csv(paths[1], index=False)
    plot_finder_ranking(corr, paths[2], own_rounds)
    if own_rounds:  # imitability by knob over every unit, intervals over the models
        from mirrorneuron.analysis.sweeps import imitability_by_knob, plot_imitability, write_csv
        from mirrorneuron.models.sweep import read_manifest

        rows = imitability_by_knob(plays.to_dict("records"), read_manifest(name), by="models")
        paths += [folder / "imitability_all.csv", folder / "imitability_all.png"]
        write_csv(rows, paths[3])
        plot_imitability(rows, paths[4])
    table = Table("rank", "finder", "n", "Spearman (pooled)", "95 % CI", "mean within model", "vs other bots")
    for r in ranked.itertuples():
        other = "" if pd.isna(r.spearman_other_bots) else f"{r.spearman_other_bots:+.2f}"
        if own_rounds and r.ranked_by != "spearman":
            other += " (ranked by)"
        ci = "—" if pd.isna(r.ci_low) else f"[{r.ci_low:+.2f}, {r.ci_high:+.2f}]"
        table.add_row(str(r.rank), str(r.finder), str(r.n), _fmt_signed(r.spearman), ci,
                      _fmt_signed(r.mean_within_model), other)  # fmt: skip
    console.print(table)
    console.print(f"[green]wrote[/] {', '.join(map(str, paths))}")


def _fmt_signed(x: float) -> str:
    return f"{x:+.3f}" if np.isfinite(x) else "—"
