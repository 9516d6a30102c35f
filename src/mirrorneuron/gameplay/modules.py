"""The module view: a unit set (a layer or a found module), who imitated which unit, the loss recovered as the
imitations are spliced in one by one, the baselines on the same units, and the next unit to imitate.

- **unit sets** come from one module set per (model, sites, k): ``find_modules(model_graph(…))`` as
  ``ModuleSet.to_dict()``, cached in memory and on disk under the home (``modules/MODEL/``; keyed by the
  model's checksum). A layer is the nodes of one site, a module the nodes with that module number.
- **the curve** is ``recovery_curve`` over the imitated units in the order their imitations were written
  (``order="written"``; ``"best"``: highest held-out correlation first). Each point is the loss recovered
  by the first k imitations relative to ablating those same k units. Per unit the imitation used is the
  chosen player's latest version, or (no player) the best held-out correlation among every player's latest.
- **the suggestion**: among the set's units linked by a graph edge to an imitated one (none imitated: the
  set's most strongly linked units; imitated but unlinked: the other best-linked units), the ``CANDIDATES``
  strongest-linked are each measured with the current
  imitations spliced in plus the candidate's TRUE activations vs the candidate ablated: the loss a perfect
  imitation of it would win back. The largest gain is suggested.

Integrity: everything shown is an aggregate (held-out scores already stored, losses on the held-out splicing
slice); no per-example value of any round is read or returned.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from mirrorneuron.buildout.baselines import baseline_candidates, compare, unit_mean
from mirrorneuron.buildout.imitate import predictor
from mirrorneuron.buildout.rules import Rule, RuleError
from mirrorneuron.buildout.splice import Ablation, Predictor, Splicer, SpliceUnit, recovery_curve
from mirrorneuron.config import settings
from mirrorneuron.gameplay.imitations import stored_rule
from mirrorneuron.harvest.cache import Harvest
from mirrorneuron.models.adapter import TorchAdapter
from mirrorneuron.store import imitations as store
from mirrorneuron.store.models import Imitation, Player
from mirrorneuron.types import UnitRef, UserError

CANDIDATES = 12
LINKS_PER_NODE = 8  # each unit's strongest links kept for the suggestion and the drawing
VIEW_BASELINES = ("zero", "mean", "ridge")
Order = Literal["written", "best"]
_MODULE_SETS: dict[tuple[str, tuple[str, ...], int | None], dict[str, Any]] = {}
_SUGGESTIONS: dict[tuple[Any, ...], dict[str, Any]] = {}


# --- unit sets ----------------------------------------------------------------------------------------
def _cache_file(model: str, sites: Sequence[str], k: int | None) -> Path:
    name = f"{'+'.join(sites) or 'default'}-k{k or 'best'}.json"
    return settings().home / "modules" / model / name


def module_set(model: str, sites: Sequence[str] = (), k: int | None = None) -> dict[str, Any]:
    """``find_modules(model_graph(model, sites), k).to_dict()`` (plus the model's checksum), cached."""
    from mirrorneuron.buildout.graph import model_graph
    from mirrorneuron.buildout.modules import find_modules
    from mirrorneuron.models.loader import zoo_adapter

    key = (model, tuple(sites), k)
    checksum = zoo_adapter(model).checksum
    hit = _MODULE_SETS.get(key)
    if hit is not None and hit.get("checksum") == checksum:
        return hit
    path = _cache_file(model, sites, k)
    if path.is_file():
        try:
            found = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            found = None
        if isinstance(found, dict) and found.get("checksum") == checksum:
            _MODULE_SETS[key] = found
            return found
    ms = find_modules(model_graph(model, sites), k)
    links = [
        {"source": ms.graph.unit_id(a), "target": ms.graph.unit_id(b), "weight": round(w, 6)}
        for a, b, w in ms.edges(LINKS_PER_NODE)
    ]
    found = ms.to_dict() | {"checksum": checksum, "links": links}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(found), encoding="utf-8")
    _MODULE_SETS[key] = found
    return found


@dataclass(frozen=True)
class UnitSet:
    model: str
    label: str  # "site blocks.0.mlp.post" or "module 2"
    nodes: list[dict[str, Any]]  # id, site, index, module
    edges: list[tuple[str, str, float]]  # links with both ends in the set, strongest first

    @property
    def ids(self) -> list[str]:
        return [n["id"] for n in self.nodes]


def unit_set(found: dict[str, Any], site: str | None = None, module: int | None = None) -> UnitSet:
    """The layer ``site`` or module number ``module`` of a module set (``ModuleSet.to_dict()``)."""
    if (site is None) == (module is None):
        raise UserError("choose a layer (site) or a module, not both or neither")
    nodes = found["graph"]["nodes"]
    if site is not None:
        picked, label = [n for n in nodes if n["site"] == site], f"site {site}"
        if not picked:
            raise UserError(f"unknown site {site!r}; choose one of {', '.join(found['sites'])}")
    else:
        picked, label = [n for n in nodes if n["module"] == module], f"module {module}"
        if not picked:
            raise UserError(f"unknown module {module}; choose 0..{found['k'] - 1}")
    ids = {n["id"] for n in picked}
    edges = [(e["source"], e["target"], float(e["weight"])) for e in found["links"]]
    return UnitSet(found["model"], label, picked, [e for e in edges if e[0] in ids and e[1] in ids])


# --- imitations ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Imitated:
    """One player's latest imitation of one unit, with that player's latest rules (for ``imitation(…)``)."""

    unit_id: str
    player_id: str
    player: str  # display name (or the id when the player has none)
    version: int
    written: str  # ISO time
    correlation: float | None  # held-out, from the stored scores
    rule: Rule = field(repr=False, compare=False)
    rules: dict[str, Rule] = field(repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "player": self.player,
            "player_id": self.player_id,
            "version": self.version,
            "written": self.written,
            "correlation": self.correlation,
        }


def held_out_correlation(scores: dict[str, Any] | None) -> float | None:
    for row in (scores or {}).get("rows", []):
        if row.get("who") == "imitation" and row.get("on") == "held-out draw":
            c = row.get("correlation")
            return None if c is None or not np.isfinite(c) else float(c)
    return None


def load_imitations(s: Session, unit_ids: Sequence[str], player_id: str | None = None) -> dict[str, list[Imitated]]:
    """unit id → each player's latest imitation of it (best held-out correlation first)."""
    stmt = select(Imitation, Player.display_name).join(Player, Player.id == Imitation.player_id)
    stmt = stmt.where(Imitation.unit_id.in_(list(unit_ids)))
    if player_id is not None:
        stmt = stmt.where(Imitation.player_id == player_id)
    newest: dict[tuple[str, str], tuple[Imitation, str | None]] = {}
    for row, name in s.execute(stmt):
        key = (row.unit_id, row.player_id)
        if key not in newest or row.version > newest[key][0].version:
            newest[key] = (row, name)
    rules: dict[str, dict[str, Rule]] = {}
    out: dict[str, list[Imitated]] = {}
    for (uid, pid), (row, name) in newest.items():
        if pid not in rules:
            rules[pid] = {u: stored_rule(r) for u, r in store.latest_per_unit(s, pid).items()}
        out.setdefault(uid, []).append(
            Imitated(
                uid,
                pid,
                name or pid,
                row.version,
                row.created_at.isoformat(),
                held_out_correlation(row.scores),
                rules[pid][uid],
                rules[pid],
            )
        )
    for items in out.values():
        items.sort(key=lambda i: (-(i.correlation if i.correlation is not None else -np.inf), i.written))
    return out


# --- the view -----------------------------------------------------------------------------------------
def _unit(uid: str) -> SpliceUnit:
    return SpliceUnit.of(UnitRef.parse(uid))


def _predictors(adapter: TorchAdapter, chosen: Sequence[Imitated]) -> tuple[dict[SpliceUnit, Predictor], list[str]]:
    preds: dict[SpliceUnit, Predictor] = {}
    problems = []
    for im in chosen:
        try:
            preds[_unit(im.unit_id)] = predictor(adapter, im.unit_id, im.rule, resolve=im.rules.get)
        except (RuleError, UserError) as e:
            problems.append(f"{im.unit_id} ({im.player}): {e}")
    return preds, problems


def suggest(
    splicer: Splicer,
    uset: UnitSet,
    imitated: dict[SpliceUnit, Predictor],
    means: dict[SpliceUnit, float] | None = None,
    ablation: Ablation = "mean",
    candidates: int = CANDIDATES,
) -> dict[str, Any]:
    """The unit of ``uset`` (not yet imitated) whose perfect imitation, beside the current ones, wins back the
    most loss over ablating it; candidates: the ``candidates`` units most strongly linked to imitated ones."""
    done = {str(u) for u in imitated}
    ids = {str(_unit(uid)): uid for uid in uset.ids}
    links: dict[str, float] = {}
    for a, b, w in uset.edges:
        for x, y in ((a, b), (b, a)):
            xs, ys = str(_unit(x)), str(_unit(y))
            if ys not in done and (xs in done or not done):
                links[ys] = links.get(ys, 0.0) + w
    reason = "linked to imitated units" if done else "no unit imitated yet: the most strongly linked units"
    if done and not links:  # no link leaves the imitated units: fall back to the set's best-linked others
        reason = "no unit is linked to the imitated ones: the most strongly linked other units"
        for a, b, w in uset.edges:
            for x in (a, b):
                if str(_unit(x)) not in done:
                    links[str(_unit(x))] = links.get(str(_unit(x)), 0.0) + w
    pool = sorted(links, key=lambda u: (-links[u], u))[:candidates]
    if not pool:
        return {"unit_id": None, "reason": "no unit of this set is left to link to", "candidates": []}
    units = [_unit(ids[u]) for u in pool]
    fills = means if ablation == "mean" else None
    current = splicer.predict(imitated)
    ablated = splicer.ablation_values(units, ablation, fills)
    acts: dict[str, np.ndarray] = {}
    rows: list[dict[str, Any]] = []
    for u in units:
        if u.site not in acts:
            acts[u.site] = splicer.adapter.activations(splicer.task.inputs, u.site)  # [N, P, U]
        with_true = splicer.measure(current | {u: acts[u.site][..., u.index].astype(np.float32)})["loss"]
        without = splicer.measure(current | {u: ablated[u]})["loss"]
        rows.append({"unit_id": ids[str(u)], "link": round(links[str(u)], 6), "loss_gain": without - with_true})
    rows.sort(key=lambda r: (-r["loss_gain"], r["unit_id"]))
    return {
        "unit_id": rows[0]["unit_id"],
        "loss_gain": rows[0]["loss_gain"],
        "ablation": ablation,
        "reason": reason,
        "candidates": rows,
    }


def module_view(
    adapter: TorchAdapter,
    harvest: Harvest,
    splicer: Splicer,
    uset: UnitSet,
    imitations: dict[str, list[Imitated]],
    order: Order = "written",
    ablation: Ablation = "mean",
) -> dict[str, Any]:
    """The unit table, the recovery curve, the baselines on the imitated units and the suggestion."""
    chosen = [items[0] for uid in uset.ids if (items := imitations.get(uid))]
    if order == "written":
        chosen.sort(key=lambda i: (i.written, i.unit_id))
    elif order != "best":
        raise UserError(f"unknown order {order!r}; choose written or best")
    preds, problems = _predictors(adapter, chosen)
    ordered = [_unit(i.unit_id) for i in chosen if _unit(i.unit_id) in preds]
    means = {_unit(uid): unit_mean(harvest, _unit(uid)) for uid in uset.ids}
    curve = recovery_curve(splicer, ordered, preds, ablation, means) if ordered else []
    baselines: list[dict[str, object]] = []
    if ordered:
        bases, _ = baseline_candidates(adapter, harvest, ordered, VIEW_BASELINES)
        baselines = compare(splicer, bases, ablation, means)
    key = (
        uset.model,
        uset.label,
        splicer.task.slice,
        len(splicer.task.inputs),
        ablation,
        tuple(sorted((i.unit_id, i.player_id, i.version) for i in chosen)),
    )
    if key not in _SUGGESTIONS:
        _SUGGESTIONS[key] = suggest(splicer, uset, preds, means, ablation)
    by_id = {i.unit_id: i for i in chosen}
    units = [
        n
        | {
            "imitated_by": [i.to_dict() for i in imitations.get(n["id"], [])],
            "used": by_id[n["id"]].to_dict() if n["id"] in by_id else None,
        }
        for n in uset.nodes
    ]
    return {
        "model": uset.model,
        "set": uset.label,
        "slice": splicer.task.slice,
        "ablation": ablation,
        "order": order,
        "units": units,
        "edges": [{"source": a, "target": b, "weight": w} for a, b, w in uset.edges],
        "curve": [cast(dict[str, Any], r) for r in curve],
        "baselines": baselines,
        "suggestion": _SUGGESTIONS[key],
        "problems": problems,
    }


DEFAULT_WINDOWS = 64
_SPLICERS: dict[tuple[str, str, int], Splicer] = {}


def splicer_for(adapter: TorchAdapter, harvest: Harvest, windows: int = DEFAULT_WINDOWS) -> Splicer:
    """The model's held-out splicing slice of ``windows`` inputs (``buildout.slices``), clean run once."""
    from mirrorneuron.buildout.slices import model_task

    key = (adapter.name, adapter.checksum, windows)
    if key not in _SPLICERS:
        _SPLICERS[key] = Splicer(adapter, model_task(adapter, windows, harvest))
    return _SPLICERS[key]
