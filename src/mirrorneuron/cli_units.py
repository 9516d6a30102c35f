"""`mirrorneuron probes|sae|directions|units …`: units beyond neurons (thin wrappers over ``mirrorneuron.units``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from mirrorneuron.console import progress
from mirrorneuron.types import UserError

units_app = typer.Typer(help="Units beyond neurons: probes, SAE features, directions.", no_args_is_help=True)
probes_app = typer.Typer(help="Linear probes: train on harvested activations, list.", no_args_is_help=True)
sae_app = typer.Typer(help="Sparse autoencoders: train, import from SAELens, list.", no_args_is_help=True)
directions_app = typer.Typer(help="Directions at a site: from a file or two concept means.", no_args_is_help=True)
units_app.add_typer(probes_app, name="probes")
units_app.add_typer(sae_app, name="sae")
units_app.add_typer(directions_app, name="directions")
console = Console()

HarvestOpt = Annotated[
    Path | None, typer.Option(help="harvest folder holding SITE (default: made on first use under $MIRRORNEURON_HOME)")
]


@contextmanager
def _progress(label: str) -> Iterator[Any]:
    """A progress callback whose bar (on stderr) appears only once there is progress to show."""
    bar: list[Progress] = []

    def update(done: int, total: int) -> None:
        if not bar:
            bar.append(progress(transient=True))
            bar[0].start()
            bar[0].add_task(label, total=total)
        bar[0].update(bar[0].task_ids[0], completed=done, total=total)

    try:
        yield update
    finally:
        if bar:
            bar[0].stop()


def _fmt(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _figures(title: str, rows: dict[str, Any]) -> None:
    console.print(f"[bold]{title}[/]", soft_wrap=True)
    table = Table("measure", "value")
    for k, v in rows.items():
        table.add_row(k, _fmt(v))
    console.print(table)


def _listing(table: Table, id_form: str, empty: str) -> None:
    if not table.row_count:
        console.print(empty, soft_wrap=True)
        return
    console.print(table)
    console.print(f"unit ids: {id_form}", soft_wrap=True)


# --- probes ---------------------------------------------------------------------------------------------
@probes_app.command("train")
def probes_train(
    model: str,
    site: str,
    concept: Annotated[str, typer.Option(help="concept NAME or NAME=VALUE, e.g. capitalised, prev_token=the, digit=3")],
    labeler: Annotated[
        str | None, typer.Option(help="your labeler: module:function or file.py:function (or a module to import)")
    ] = None,
    csv: Annotated[Path | None, typer.Option(help="CSV of example_index,label rows")] = None,
    name: Annotated[str | None, typer.Option(help="probe name (default: the concept)")] = None,
    harvest: HarvestOpt = None,
    max_examples: Annotated[int, typer.Option(help="examples sampled for fitting")] = 20_000,
    folds: Annotated[int, typer.Option(help="cross-validation folds")] = 5,
    strength: Annotated[float, typer.Option(help="regularisation strength (logistic C = 1/strength)")] = 1.0,
    seed: int = 0,
) -> None:
    """Fit a linear probe for a concept at SITE (logistic or ridge), cross-validated, and save it as a unit."""
    from mirrorneuron.units.probes import train_probe

    with _progress(f"harvesting {model} at {site}") as p:
        r = train_probe(
            model, site, concept, labeler=labeler, csv=csv, name=name, harvest=harvest,
            max_examples=max_examples, folds=folds, strength=strength, seed=seed, progress=p,
        )  # fmt: skip
    m = r.metrics
    keys = (
        ("n", "positives", "base_rate", "accuracy", "accuracy_std", "balanced_accuracy", "auc", "train_accuracy")
        if m["task"] == "binary"
        else ("n", "label_mean", "label_std", "r2", "r2_std", "train_r2")
    )
    _figures(f"probe {r.readout.ref.key} — {m['estimator']}, {folds}-fold held-out", {k: m[k] for k in keys})
    console.print(
        f"[green]saved[/] {r.path}\nplay it: mirrorneuron play -m {model} -u {r.readout.ref.id}", soft_wrap=True
    )


@probes_app.command("list")
def probes_list(model: str) -> None:
    """List the saved probes of MODEL with their held-out quality."""
    from mirrorneuron.units.probes import list_probes

    table = Table("site", "name", "task", "n", "base rate", "held-out acc / R²", "AUC")
    for m in list_probes(model):
        q = m.get("metrics", {})
        held = q.get("accuracy", q.get("r2", ""))
        table.add_row(m["site"], m["name"], q.get("task", ""), _fmt(q.get("n", "")),
                      _fmt(q.get("base_rate", "")), _fmt(held), _fmt(q.get("auc", "")))  # fmt: skip
    _listing(table, f"{model}/SITE/probe/NAME", f"no probes for {model}; train one with `mirrorneuron probes train`")


@probes_app.command("concepts")
def probes_concepts(modality: Annotated[str, typer.Option(help="text or image")] = "text") -> None:
    """List the built-in concepts (labelers); spaCy's are listed whether or not spaCy is installed."""
    from mirrorneuron.units.labelers import known, lookup

    if modality not in ("text", "image"):
        raise UserError("--modality must be text or image")
    table = Table("concept", "kind", "meaning")
    for n in known(modality):  # type: ignore[arg-type]
        lab = lookup(n, modality)  # type: ignore[arg-type]
        table.add_row(n, lab.kind, lab.description)
    console.print(table)


# --- SAEs -----------------------------------------------------------------------------------------------
def _sae_report(r: Any, model: str, site: str) -> None:
    keys = ("width", "l1", "steps", "mse", "fve", "l0", "dead_fraction")
    _figures(f"SAE {r.sae.name} at {site} (held-out)", {k: r.metrics[k] for k in keys if k in r.metrics})
    console.print(
        f"[green]saved[/] {r.path}\nits features are units {model}/{site}/sae_feature/{r.sae.name}:J "
        f"(J = 0..{r.sae.d_sae - 1})",
        soft_wrap=True,
    )


@sae_app.command("train")
def sae_train(
    model: str,
    site: str,
    width: Annotated[int, typer.Option(help="number of features")],
    l1: Annotated[float, typer.Option(help="L1 coefficient (inputs scaled to total variance 1; try 0.1–0.5)")] = 0.3,
    steps: Annotated[int, typer.Option(help="Adam steps")] = 2000,
    name: Annotated[str | None, typer.Option(help="SAE name (default: sae{width})")] = None,
    harvest: HarvestOpt = None,
    lr: float = 1e-3,
    batch_size: int = 1024,
    seed: int = 0,
) -> None:
    """Train a small ReLU sparse autoencoder on SITE; its features become units."""
    from mirrorneuron.units.sae_train import train_sae

    with _progress(f"training an SAE on {model} {site}") as p:
        r = train_sae(
            model, site, width, l1, steps, name=name, harvest=harvest, lr=lr, batch_size=batch_size, seed=seed,
            progress=p,
        )  # fmt: skip
    _sae_report(r, model, site)


@sae_app.command("import")
def sae_import(
    model: str,
    site: str,
    folder: Annotated[Path, typer.Argument(help="a SAELens SAE folder (cfg.json + sae_weights.safetensors)")],
    name: Annotated[str | None, typer.Option(help="SAE name (default: the folder's name)")] = None,
    harvest: HarvestOpt = None,
) -> None:
    """Import a SAELens SAE for SITE of MODEL; its features become units."""
    from mirrorneuron.units.sae_train import import_sae

    r = import_sae(model, site, folder, name, harvest)
    _sae_report(r, model, site)


@sae_app.command("list")
def sae_list(model: str) -> None:
    """List the saved SAEs of MODEL with their quality figures."""
    from mirrorneuron.units.sae import list_saes

    table = Table("site", "name", "width", "l1", "FVE", "L0", "dead", "source")
    for s in list_saes(model):
        q = s.get("metrics", {})
        table.add_row(s["site"], s["name"], _fmt(s.get("d_sae", "")), _fmt(q.get("l1", "")), _fmt(q.get("fve", "")),
                      _fmt(q.get("l0", "")), _fmt(q.get("dead_fraction", "")), s.get("source", ""))  # fmt: skip
    _listing(table, f"{model}/SITE/sae_feature/NAME:J", f"no SAEs for {model}; train one with `mirrorneuron sae train`")


# --- directions -----------------------------------------------------------------------------------------
@directions_app.command("add")
def directions_add(
    model: str,
    site: str,
    name: str,
    file: Annotated[Path | None, typer.Option(help=".npy, .safetensors or .txt with one number per site unit")] = None,
    concepts: Annotated[
        tuple[str, str, str] | None,
        typer.Option(help="LABELER A B: mean activation where the label is A minus where it is B (unit norm)"),
    ] = None,
    normalise: Annotated[bool, typer.Option(help="scale a file's vector to unit norm")] = False,
    harvest: HarvestOpt = None,
) -> None:
    """Save a direction at SITE; its projection a·v becomes a unit."""
    from mirrorneuron.units.directions import add_direction

    with _progress(f"harvesting {model} at {site}") as p:
        r = add_direction(model, site, name, file=file, concepts=concepts, normalise=normalise, harvest=harvest,
                          progress=p)  # fmt: skip
    _figures(f"direction {name}", {k: v for k, v in r.meta.items() if k != "source"} | {"source": r.meta["source"]})
    console.print(
        f"[green]saved[/] {r.path}\nplay it: mirrorneuron play -m {model} -u {r.readout.ref.id}", soft_wrap=True
    )


@directions_app.command("list")
def directions_list(model: str) -> None:
    """List the saved directions of MODEL."""
    from mirrorneuron.units.directions import list_directions

    table = Table("site", "name", "source", "norm")
    for m in list_directions(model):
        src = m.get("file") or f"{m.get('labeler')}: {m.get('a')} − {m.get('b')}"
        table.add_row(m["site"], m["name"], src, _fmt(m.get("norm", "")))
    _listing(
        table, f"{model}/SITE/direction/NAME", f"no directions for {model}; add one with `mirrorneuron directions add`"
    )


# --- any unit -------------------------------------------------------------------------------------------
@units_app.command("show")
def units_show(
    unit_id: Annotated[
        str, typer.Argument(help="MODEL/SITE/KIND/KEY, e.g. tiny-gelu/blocks.1.resid.post/probe/capitalised")
    ],
    harvest: HarvestOpt = None,
) -> None:
    """A unit's statistics over the harvest and its polysemanticity measures."""
    from mirrorneuron.game import UnitStats
    from mirrorneuron.types import UnitRef
    from mirrorneuron.units import open_unit
    from mirrorneuron.units.poly import unit_polysemanticity

    ref = UnitRef.parse(unit_id)
    with _progress(f"preparing {ref.model}") as p:
        ctx = open_unit(ref.model, unit_id, harvest_dir=harvest, progress=p)
    stats = UnitStats.from_values(ctx.values).to_dict()
    _figures(f"{ctx.unit_id} — {len(ctx.values):,} examples", stats)
    _figures("polysemanticity", unit_polysemanticity(ctx))
