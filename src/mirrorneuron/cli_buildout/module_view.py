"""``mirrorneuron buildout module MODEL``: a layer or a found module — who imitated what, the loss recovered as
the imitations are spliced in, the baselines beside them, and the next unit to imitate."""

from __future__ import annotations

import json
from typing import Annotated, Any, cast

import typer
from rich.console import Console
from rich.table import Table

from mirrorneuron.cli_buildout.app import buildout_app
from mirrorneuron.types import UserError

console = Console()


def _fmt(v: Any) -> str:
    return f"{v:.4f}" if isinstance(v, float) else ("—" if v is None else str(v))


@buildout_app.command("module")
def module_cmd(
    model: Annotated[str, typer.Argument(help="zoo or registered model, e.g. tiny-gelu")],
    site: Annotated[str | None, typer.Option("--site", help="a layer: every unit of this site")] = None,
    module: Annotated[
        int | None, typer.Option("--module", help="a found module's number (see `buildout modules`)")
    ] = None,
    k: Annotated[int | None, typer.Option("--k", help="number of modules (default: the best modularity)")] = None,
    player: Annotated[str | None, typer.Option("--player", help="only this player's imitations (id or name)")] = None,
    order: Annotated[
        str, typer.Option(help="curve order: written (oldest first) or best (held-out first)")
    ] = "written",
    ablate: Annotated[str, typer.Option(help="ablation the fractions are measured against: zero or mean")] = "mean",
    windows: Annotated[int, typer.Option(help="inputs in the held-out splicing slice")] = 64,
    as_json: Annotated[bool, typer.Option("--json", help="print the view as JSON")] = False,
) -> None:
    """The module view of MODEL's --site S or --module K: units table, recovery curve, baselines, suggestion."""
    from sqlalchemy import select

    from mirrorneuron.buildout.splice import ABLATIONS
    from mirrorneuron.gameplay import modules as mv
    from mirrorneuron.gameplay.local import local_store
    from mirrorneuron.models.loader import zoo_adapter
    from mirrorneuron.store.models import Player
    from mirrorneuron.units.data import ensure_harvest

    if ablate not in ABLATIONS:
        raise UserError(f"--ablate must be one of {', '.join(ABLATIONS)}, not {ablate!r}")
    if order not in ("written", "best"):
        raise UserError(f"--order must be written or best, not {order!r}")
    if windows < 1:
        raise UserError("--windows must be at least 1")
    if (site is None) == (module is None):
        raise UserError("choose a layer (--site SITE) or a module (--module K), not both or neither")
    uset = mv.unit_set(mv.module_set(model, (), k), site, module)
    with local_store() as s:
        pid = None
        if player:
            by_name = select(Player.id).where(Player.display_name == player)
            pid = player if s.get(Player, player) is not None else s.scalars(by_name).first()
            if pid is None:
                raise UserError(f"--player: no player called {player!r}")
        imitations = mv.load_imitations(s, uset.ids, pid)
    adapter = zoo_adapter(model)
    harvest = ensure_harvest(adapter, None, None, [])
    view = mv.module_view(
        adapter,
        harvest,
        mv.splicer_for(adapter, harvest, windows),
        uset,
        imitations,
        cast(mv.Order, order),
        cast(Any, ablate),
    )
    if as_json:
        typer.echo(json.dumps(view))
        return
    _print(view)


def _print(view: dict[str, Any]) -> None:
    console.print(
        f"{view['model']} · {view['set']} · slice: {view['slice']} · ablation: {view['ablation']}",
        soft_wrap=True,
        highlight=False,
    )
    table = Table("unit", "module", "imitated by", "held-out correlation (used)")
    for u in view["units"]:
        if u["imitated_by"] or len(view["units"]) <= 16:
            who = ", ".join(f"{i['player']} v{i['version']}" for i in u["imitated_by"]) or "—"
            table.add_row(
                f"{u['site']}/{u['index']}", str(u["module"]), who, _fmt((u["used"] or {}).get("correlation"))
            )
    n_done = sum(1 for u in view["units"] if u["imitated_by"])
    table.title = f"{len(view['units'])} units, {n_done} imitated"
    console.print(table)
    curve = Table(
        "n units",
        "unit added",
        "loss clean / ablated / spliced",
        "loss recovered",
        title=f"recovery curve ({view['order']} order)",
    )
    for r in view["curve"]:
        losses = " / ".join(_fmt(r[k]["loss"]) for k in ("clean", "ablated", "spliced"))
        curve.add_row(str(r["n_units"]), r["unit"], losses, _fmt(r["loss_recovered"]))
    console.print(curve if view["curve"] else "no imitations in this set yet: no curve", soft_wrap=True)
    for b in view["baselines"]:
        console.print(
            f"baseline {b['candidate']} on the same {len(b['units'])} units: loss recovered "
            f"{_fmt(b['loss_recovered'])}",
            soft_wrap=True,
            highlight=False,
        )
    for p in view["problems"]:
        console.print(f"left out: {p}", soft_wrap=True, highlight=False)
    sug = view["suggestion"]
    if sug["unit_id"] is None:
        console.print(f"no suggestion: {sug['reason']}", soft_wrap=True, highlight=False)
    else:
        console.print(
            f"next: {sug['unit_id']} — a perfect imitation would win back {sug['loss_gain']:.6f} nats "
            f"({sug['reason']}; {len(sug['candidates'])} candidates measured)",
            soft_wrap=True,
            highlight=False,
        )
