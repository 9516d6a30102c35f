"""The rule editor's work: previews on reference examples, saving + held-out scoring, the version list.

Integrity: a preview evaluates the rule only on the unit's level-1 reference examples (the default plan's;
training windows, never asked); the request names no examples. While the viewer has a game open on the unit,
the router refuses previews and saves (their numbers would be hints).
"""

from __future__ import annotations

import numpy as np
from sqlalchemy.orm import Session

from mirrorneuron.buildout.imitate import predict_examples
from mirrorneuron.buildout.rules import Rule, parse_rule
from mirrorneuron.game import ReferenceExample, SamplingPlan, draw_examples, reference_examples, summarize
from mirrorneuron.gameplay.imitations import save_and_score, stored_rule
from mirrorneuron.store import imitations as store
from mirrorneuron.store.models import Imitation
from mirrorneuron.units import HarvestedUnit
from mirrorneuron.web.schemas.imitations import ImitationOut, PreviewOut, PreviewRow, ScoresOut
from mirrorneuron.web.unitcache import UnitCache


class PreviewLeak(RuntimeError):
    """A preview was about to evaluate an example the game may ask (a bug, never a user error)."""


def references(ctx: HarvestedUnit) -> tuple[ReferenceExample, ...]:
    """The unit's level-1 references under the default sampling plan (what a level-1 player is shown);
    :class:`PreviewLeak` if any of them is outside the training windows."""
    draws = draw_examples(ctx, 0, SamplingPlan())
    refs = reference_examples(ctx, draws.references)
    askable = [r.index for r in refs if not draws.training[r.index]]
    if askable:
        raise PreviewLeak(f"{ctx.unit_id}: preview examples {askable[:5]} may be asked in a round")
    return refs


def latest_rules(s: Session, player_id: str) -> dict[str, Rule]:
    """The player's newest rule of every unit, for ``imitation(…)`` in a preview."""
    return {uid: stored_rule(row) for uid, row in store.latest_per_unit(s, player_id).items()}


def preview(cache: UnitCache, unit_id: str, source: str, rules: dict[str, Rule]) -> PreviewOut:
    """Parse ``source`` (RuleError) and evaluate it on the reference examples, against their true values."""
    rule = parse_rule(source)
    ctx = cache.context(unit_id)
    refs = references(ctx)
    with cache.lock:  # forward hooks live on the shared module
        pred = predict_examples(ctx, rule, [r.index for r in refs], rules.get)
    actual = np.array([r.value for r in refs], dtype=np.float64)
    summary = summarize(actual, pred, scale=draw_examples(ctx, 0, SamplingPlan()).stats.scale)
    rows = [
        PreviewRow.model_validate(
            {"index": r.index, "kind": r.kind, "example": r.example.to_dict(), "value": r.value, "predicted": float(p)}
        )
        for r, p in zip(refs, pred, strict=True)
    ]
    return PreviewOut(
        unit_id=ctx.unit_id,
        rows=rows,
        correlation=summary.correlation,
        r2=summary.r2,
        abs_dev_explained=summary.abs_dev_explained,
        mean_round_score=summary.mean_round_score,
    )


def imitation_out(row: Imitation) -> ImitationOut:
    return ImitationOut(
        id=row.id,
        unit_id=row.unit_id,
        player_id=row.player_id,
        version=row.version,
        source=row.source,
        scores=None if row.scores is None else ScoresOut.model_validate(row.scores),
        created_at=row.created_at,
    )


def save(cache: UnitCache, s: Session, unit_id: str, player_id: str, source: str) -> ImitationOut:
    """Store the rule as the player's next version with its held-out scores (RuleError: nothing stored)."""
    ctx = cache.context(unit_id)
    with cache.lock:
        return imitation_out(save_and_score(s, ctx, player_id, source))


def versions(s: Session, unit_id: str, player_id: str) -> list[ImitationOut]:
    return [imitation_out(r) for r in store.versions(s, unit_id, player_id)]
