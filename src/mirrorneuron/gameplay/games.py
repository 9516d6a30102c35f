"""A game: its rounds drawn around what the player has already been shown, then stored with how they were drawn."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from mirrorneuron.game import Draws, Level, RoundSet, SamplingPlan, draw_examples, rounds_from
from mirrorneuron.store import repo
from mirrorneuron.units import HarvestedUnit

DESIGNS = ("casual", "between", "within", "bots", "daily")  # what a game can be prepared as; analysis.simstore adds "simulated"


def seen_examples(ctx: HarvestedUnit, shown: Sequence[tuple[str, int, int]], level: int = 0) -> np.ndarray:
    """Examples of ``ctx`` a player may not be asked at ``level``, given the ``(unit, level, example)`` rounds
    they were shown (:func:`store.history.shown_rounds`): every window of an earlier round of this unit (its
    reveal shaded the window); every window of an earlier level-2/3 round of any unit of the model (its hints
    showed other units' values there); and at level 2/3 every shown window (this game's hints will show the
    other units' values there, which may still be unanswered)."""
    groups = ctx.groups
    windows = {
        int(groups[i])
        for unit, shown_level, i in shown
        if 0 <= i < groups.size and (unit == ctx.unit_id or max(shown_level, level) >= Level.NEIGHBOURS)
    }
    return np.isin(groups, np.fromiter(windows, dtype=np.int64, count=len(windows)))


@dataclass(frozen=True)
class PreparedGame:
    """Everything needed to store a game; built outside the database session (it may run the model)."""

    ctx: HarvestedUnit
    rounds: RoundSet
    rows: list[dict[str, Any]]
    design: str = "casual"


def round_rows(ctx: HarvestedUnit, rs: RoundSet) -> list[dict[str, Any]]:
    """Rows for :func:`store.repo.create_game`: the served payload, and the truth kept server-side."""
    return [
        {
            "seq": r.seq,
            "example_id": ctx.harvest.example_id(r.index),
            "example_index": r.index,
            "source": r.source,
            "weight": r.weight,
            "scale": r.scale,
            "payload": r.to_dict(),
            "actual": float(ctx.values[r.index]),
        }
        for r in rs.rounds
    ]


def prepare_game(
    ctx: HarvestedUnit,
    level: int,
    n: int,
    plan: SamplingPlan,
    seen: np.ndarray | None = None,
    design: str = "casual",
    draws: Draws | None = None,
    lock: AbstractContextManager[Any] | None = None,
) -> PreparedGame:
    """The game's rounds, all made now (levels 2–3 run the model: pass the model's ``lock``). ``draws``
    (from :func:`game.draw_examples`) fixes the items, e.g. one block of a within-player study."""
    if design not in DESIGNS:
        raise ValueError(f"unknown design {design!r}; choose one of {', '.join(DESIGNS)}")
    with lock or nullcontext():
        chosen = draws if draws is not None else draw_examples(ctx, n, plan, plan.seed, seen)
        rs = rounds_from(ctx, level, chosen, plan, plan.seed)
    return PreparedGame(ctx, rs, round_rows(ctx, rs), design)


def store_game(
    s: Session,
    player_id: str,
    game: PreparedGame,
    feedback: bool,
    study_id: str | None = None,
    practice: bool = False,
    client: str = "web",
    policy: str | None = None,
) -> str:
    """Register the model, unit and examples, then create the game with all its rounds. Returns the game id."""
    ctx = game.ctx
    repo.ensure_model(s, ctx.adapter.name, ctx.modality, ctx.adapter.checksum)
    ref = ctx.ref
    repo.ensure_unit(s, ref.id, ref.model, ref.site, ref.kind, ref.stored_index, game.rounds.stats.to_dict())
    repo.ensure_examples(
        s,
        ctx.adapter.name,
        [
            {"id": row["example_id"], "harvest_index": row["example_index"], "payload": row["payload"]["example"]}
            for row in game.rows
        ],
    )
    created = repo.create_game(
        s,
        player_id,
        ctx.unit_id,
        int(game.rounds.level),
        feedback,
        game.rounds.seed,
        game.rows,
        study_id=study_id,
        practice=practice,
        design=game.design,
        client=client,
        policy=policy,
    )
    return created.id
