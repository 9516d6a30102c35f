"""``mirrorneuron buildout splice``: replace units by rules or baselines in the forward pass; loss recovered."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, cast

import typer
from rich.console import Console
from rich.table import Table

from mirrorneuron.cli_buildout.app import buildout_app
from mirrorneuron.config import settings
from mirrorneuron.console import progress
from mirrorneuron.types import UnitRef, UserError

console = Console()
SPECS = "zero|mean|ridge|sae|path/to/rule.txt"


def _parse_unit(text: str, model: str) -> tuple[UnitRef, str]:
    unit, sep, spec = text.partition("=")
    if not sep or not spec.strip():
        raise UserError(f"bad --unit {text!r}: use UNIT_ID=SPEC with SPEC {SPECS}, e.g. blocks.0.mlp.post/17=ridge")
    return UnitRef.parse(unit, model), spec.strip()


def _read_rule(spec: str) -> str:
    path = Path(spec)
    if not path.is_file():
        raise UserError(f"bad replacement {spec!r}: use {SPECS} (no such rule file)")
    try:
        return path.read_text(encoding="utf-8")
    except OSError as e:
        raise UserError(f"cannot read rule file {path}: {e.strerror}") from None
    except UnicodeDecodeError:
        raise UserError(f"rule file {path} is not UTF-8 text") from None


def _rule_predictor(adapter: Any, ref: UnitRef, source: str, path: str) -> Any:
    """The predictor of a rule file (the rule language: docs/imitations.md)."""
    from mirrorneuron.buildout.imitate import predictor
    from mirrorneuron.buildout.rules import RuleError, parse_rule

    try:
        return predictor(adapter, ref.id, parse_rule(source))
    except RuleError as e:  # names the line and column
        raise UserError(f"{path}: {e}") from None


def _fmt(x: object) -> str:
    return f"{x:.4f}" if isinstance(x, float) else "—"


@buildout_app.command("splice")
def splice_cmd(
    model: Annotated[
        str | None, typer.Argument(help="zoo or registered model (default: the default text model)")
    ] = None,
    unit: Annotated[
        list[str] | None, typer.Option("--unit", "-u", help=f"UNIT_ID=SPEC, SPEC one of {SPECS} (repeatable)")
    ] = None,
    windows: Annotated[int, typer.Option(help="inputs in the held-out slice")] = 128,
    ablate: Annotated[str, typer.Option(help="ablation the fractions are measured against: zero or mean")] = "zero",
    harvest: Annotated[Path | None, typer.Option(help="harvest folder (default: the model's default harvest)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print machine-readable JSON instead of a table")] = False,
) -> None:
    """Splice the --unit replacements into MODEL at once; print loss recovered beside every baseline's."""
    from mirrorneuron.buildout.baselines import BASELINES, baseline, baseline_candidates, compare, unit_mean
    from mirrorneuron.buildout.slices import model_task
    from mirrorneuron.buildout.splice import ABLATIONS, Ablation, Splicer, SpliceUnit
    from mirrorneuron.models.loader import zoo_adapter
    from mirrorneuron.units.data import ensure_harvest

    name = model or settings().default_text_model
    if not unit:
        raise UserError(f"choose units to replace: --unit UNIT_ID=SPEC (SPEC {SPECS})")
    if ablate not in ABLATIONS:
        raise UserError(f"--ablate must be one of {', '.join(ABLATIONS)}, not {ablate!r}")
    if windows < 1:
        raise UserError("--windows must be at least 1")
    parsed = [_parse_unit(u, name) for u in unit]
    sources = {spec: _read_rule(spec) for _, spec in parsed if spec not in BASELINES}
    refs = {SpliceUnit.of(ref): (ref, spec) for ref, spec in parsed}
    if len(refs) < len(parsed):
        raise UserError("a unit is given twice")
    adapter = zoo_adapter(name)
    units = list(refs)
    for u in units:
        if not 0 <= u.index < adapter.width(u.site):  # unknown site → UserError too
            raise UserError(f"unit index {u.index} out of range for {u.site} (0..{adapter.width(u.site) - 1})")
    with progress(transient=True) as bar:
        task_id = bar.add_task("harvest", total=None)
        h = ensure_harvest(
            adapter, harvest, lambda d, t: bar.update(task_id, completed=d, total=t), [u.site for u in units]
        )
        if h.model != adapter.name:
            raise UserError(f"harvest at {h.path} is of model {h.model!r}, not {adapter.name!r}")
        bar.update(task_id, description="slice + clean run", completed=0, total=None)
        task = model_task(adapter, windows, h)
        splicer = Splicer(adapter, task)
        given = {
            u: baseline(spec, adapter, h, u)
            if spec in BASELINES
            else _rule_predictor(adapter, ref, sources[spec], spec)
            for u, (ref, spec) in refs.items()
        }
        bases, skipped = baseline_candidates(adapter, h, units)
        candidates = {"given": given} | bases
        means = {u: unit_mean(h, u) for u in units}
        rows: list[dict[str, Any]] = []
        bar.update(task_id, description="splice", completed=0, total=len(candidates))
        for i, (label, preds) in enumerate(candidates.items()):
            rows += compare(splicer, {label: preds}, cast(Ablation, ablate), means)
            bar.update(task_id, completed=i + 1)
    specs = {ref.id: spec for ref, spec in parsed}
    if as_json:
        out = {"model": name, "slice": task.slice, "kind": task.kind, "ablation": ablate, "units": specs}
        print(json.dumps(out | {"rows": rows, "skipped": skipped}, indent=2))
        return
    console.print(f"model {name} · slice: {task.slice} · ablation: {ablate}", soft_wrap=True, highlight=False)
    for ref_id, spec in specs.items():
        console.print(f"  given: {ref_id} = {spec}", soft_wrap=True, highlight=False)
    classifier = task.kind == "classifier"
    table = Table("replacement", "loss clean / ablated / spliced", "loss recovered")
    if classifier:
        table.add_column("accuracy clean / ablated / spliced")
        table.add_column("accuracy kept")
    for r in rows:
        cells = [str(r["candidate"]), " / ".join(_fmt(r[k]["loss"]) for k in ("clean", "ablated", "spliced"))]
        cells.append(_fmt(r["loss_recovered"]))
        if classifier:
            cells += [
                " / ".join(_fmt(r[k]["accuracy"]) for k in ("clean", "ablated", "spliced")),
                _fmt(r["accuracy_kept"]),
            ]
        table.add_row(*cells)
    console.print(table)
    for r in rows:
        for what, reason in r["reasons"].items():
            console.print(f"{r['candidate']}: {what} fraction undefined: {reason}", soft_wrap=True, highlight=False)
    for label, why in skipped.items():
        console.print(f"{label}: left out ({why})", soft_wrap=True, highlight=False)
