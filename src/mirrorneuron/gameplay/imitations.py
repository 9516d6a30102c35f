"""Imitations end to end: parse → save a version → score on held-out examples → store the scores.

The score table puts side by side, each with the standard metrics of ``game.scoring.summarize``:

- the imitation on the held-out draw (``buildout.imitate.held_out_draws``: askable examples only, never a
  training or reference example) and the bots (unigram, kNN, ridge at level 1, fitted on the training
  windows only) on the very same draw;
- the player's own round-by-round guesses on this unit, and the imitation on those same examples.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from mirrorneuron.buildout.imitate import Resolve, held_out_draws, predict_examples, score_on
from mirrorneuron.buildout.rules import Rule, parse_rule, rule_from_json
from mirrorneuron.game import SamplingPlan, UnitStats, rounds_from, summarize
from mirrorneuron.game.scoring import ScoreSummary
from mirrorneuron.gameplay.bots import play_bots
from mirrorneuron.gameplay.local import terminal_player
from mirrorneuron.store import imitations as store
from mirrorneuron.store import repo
from mirrorneuron.store.models import Imitation, Player
from mirrorneuron.types import UserError
from mirrorneuron.units import HarvestedUnit

BOTS = ("unigram", "knn", "ridge")
BOT_LEVEL = 1


def stored_rule(row: Imitation) -> Rule:
    """The parsed rule of a stored version (its JSON form; the source again if that is from an older parser)."""
    try:
        return rule_from_json(row.rule)
    except (TypeError, ValueError):
        return parse_rule(row.source)


def resolver(s: Session, player_id: str) -> Resolve:
    """``imitation("ID")`` for this player: their latest saved rule of that unit, or None."""

    def resolve(unit_id: str) -> Rule | None:
        row = store.latest(s, player_id, unit_id)
        return None if row is None else stored_rule(row)

    return resolve


def _row(who: str, on: str, summary: ScoreSummary) -> dict[str, Any]:
    keys = ("n", "correlation", "r2", "abs_dev_explained", "mean_round_score", "flags")
    d = summary.to_dict()
    return {"who": who, "on": on, **{k: d[k] for k in keys}}


def score_table(s: Session, ctx: HarvestedUnit, player_id: str, rule: Rule, n: int | None = None) -> dict[str, Any]:
    """The imitation's metrics next to the bots' (same held-out draw) and the player's (their own rounds)."""
    resolve = resolver(s, player_id)
    plan = SamplingPlan()
    draws = held_out_draws(ctx, n) if n is not None else held_out_draws(ctx)
    rows = [_row("imitation", "held-out draw", score_on(ctx, rule, draws, resolve))]
    rs = rounds_from(ctx, BOT_LEVEL, draws, plan, plan.seed)
    for name, (_, result) in play_bots(ctx, rs, BOTS).items():
        rows.append(_row(f"{name} bot", "held-out draw", result.summary))
    plays = store.player_plays(s, player_id, ctx.unit_id)
    if plays:
        idx, actual, guess, scale = (np.array(c) for c in zip(*plays, strict=True))
        rows.append(_row("you (rounds)", "your rounds", summarize(actual, guess, scale=scale)))
        pred = predict_examples(ctx, rule, idx.astype(np.int64), resolve)
        rows.append(_row("imitation", "your rounds", summarize(actual, pred, scale=scale)))
    return {"held_out": len(draws.draws), "bot_level": BOT_LEVEL, "rows": rows}


def save_and_score(s: Session, ctx: HarvestedUnit, player_id: str, source: str) -> Imitation:
    """Parse ``source`` (RuleError at the mistake), store it as the player's next version, score it and store
    the scores. Commits; on any error nothing is stored."""
    rule = parse_rule(source)
    ref = ctx.ref
    repo.ensure_model(s, ctx.adapter.name, ctx.modality, ctx.adapter.checksum)
    training = held_out_draws(ctx, 0).training
    stats = UnitStats.from_values(np.asarray(ctx.values, dtype=np.float64)[training]).to_dict()
    repo.ensure_unit(s, ref.id, ref.model, ref.site, ref.kind, ref.stored_index, stats)
    try:
        row = store.save_imitation(s, player_id, ref.id, source, rule.to_json())
        row.scores = score_table(s, ctx, player_id, rule)  # the row is in this session: no lookup
        s.commit()
    except Exception:
        s.rollback()
        raise
    return row


def named_player(s: Session, name: str | None) -> str:
    """The id of the local player called ``name`` (an id or a display name; a new player of that name if none
    has it); without a name, this home's terminal player."""
    if not name:
        return terminal_player(s)
    if s.get(Player, name) is not None:
        return name
    found = s.scalars(select(Player.id).where(Player.display_name == name).order_by(Player.created_at)).first()
    if found is not None:
        return found
    player = repo.ensure_player(s, None)
    try:
        repo.set_display_name(s, player.id, name)
    except ValueError as e:
        raise UserError(f"--player: {e}") from None
    s.commit()
    return player.id
