"""``mirrorneuron buildout imitate | imitations | check``: write, score, list and check imitation rules."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Column, Table

from mirrorneuron.buildout.rules import Rule, RuleError, parse_rule
from mirrorneuron.cli_buildout.app import buildout_app
from mirrorneuron.types import UnitRef, UserError

console = Console()
PlayerOpt = Annotated[
    str | None, typer.Option("--player", help="player id or display name (default: this home's terminal player)")
]


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"cannot read rule file {path}: {e}") from None


def _rule_error(path: Path, e: RuleError) -> typer.Exit:
    err = Console(stderr=True)
    err.print(f"error: {path}: {e}", markup=False, highlight=False, soft_wrap=True)
    if e.caret:
        err.print(e.caret, markup=False, highlight=False, soft_wrap=True)
    return typer.Exit(2)


def _parse(path: Path) -> tuple[str, Rule]:
    source = _read(path)
    try:
        return source, parse_rule(source)
    except RuleError as e:
        raise _rule_error(path, e) from None


def _fmt(v: Any) -> str:
    return f"{v:.3f}" if isinstance(v, float) else ("" if v is None else str(v))


def _scores_table(scores: dict[str, Any]) -> Table:
    # who / on never shrink to "…" in a narrow terminal: the figures' headers wrap instead
    table = Table(Column("who", no_wrap=True), Column("on", no_wrap=True), "n", "correlation", "r2",
                  "abs dev explained", "mean round score", "flags", title=f"held-out draw: {scores['held_out']} examples; bots at level {scores['bot_level']}")
    for r in scores["rows"]:
        table.add_row(r["who"], r["on"], *(_fmt(r[k]) for k in ("n", "correlation", "r2", "abs_dev_explained",
                                                                "mean_round_score")), ", ".join(r["flags"]))
    return table


@buildout_app.command("check")
def check(rule_file: Annotated[Path, typer.Argument(help="the rule, as text")]) -> None:
    """Parse a rule file only: exit 2 with line:column at the first mistake."""
    _, rule = _parse(rule_file)
    refs = ", ".join(f"{k}({u})" for k, u in rule.references()) or "none"
    default = "an else line" if rule.default is not None else "no else line (0)"
    console.print(f"ok: {len(rule.terms)} term(s), {default}; reads {refs}", markup=False, soft_wrap=True)


@buildout_app.command("imitate")
def imitate(
    unit_id: Annotated[str, typer.Argument(help="unit id, e.g. tiny-gelu/blocks.0.mlp.post/neuron/17")],
    rule_file: Annotated[Path, typer.Argument(help="the rule, as text (grammar: docs/imitations.md)")],
    player: PlayerOpt = None,
) -> None:
    """Save a new version of your imitation of a unit, score it on held-out examples, print it vs you and the
    bots."""
    from mirrorneuron.gameplay.imitations import named_player, save_and_score
    from mirrorneuron.gameplay.local import local_store
    from mirrorneuron.units import open_unit

    source, _ = _parse(rule_file)
    ref = UnitRef.parse(unit_id)
    ctx = open_unit(ref.model, ref.id)
    with local_store() as s:
        pid = named_player(s, player)
        try:
            row = save_and_score(s, ctx, pid, source)
        except RuleError as e:
            raise _rule_error(rule_file, e) from None
        console.print(f"saved version {row.version} of {ref.id} (player {pid})", markup=False, soft_wrap=True)
        assert row.scores is not None
        console.print(_scores_table(row.scores))


@buildout_app.command("imitations")
def imitations(
    unit_id: Annotated[str, typer.Argument(help="unit id")],
    player: Annotated[str | None, typer.Option("--player", help="only this player (id or display name)")] = None,
) -> None:
    """List the stored versions of imitations of a unit, with their held-out correlation."""
    from mirrorneuron.gameplay.imitations import named_player
    from mirrorneuron.gameplay.local import local_store
    from mirrorneuron.store import imitations as store

    ref = UnitRef.parse(unit_id)
    with local_store() as s:
        pid = named_player(s, player) if player else None
        rows = store.versions(s, ref.id, pid)
        table = Table("player", "version", "saved", "held-out correlation", "r2", "rule", title=ref.id)
        for r in rows:
            first = (r.scores or {}).get("rows", [{}])[0]
            line = r.source.strip().splitlines()[0] if r.source.strip() else ""
            table.add_row(r.player_id, str(r.version), f"{r.created_at:%Y-%m-%d %H:%M}",
                          _fmt(first.get("correlation")), _fmt(first.get("r2")), line[:40])
        console.print(table if rows else f"no imitations of {ref.id} yet", soft_wrap=True)
