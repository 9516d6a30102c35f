"""Building a game's rounds from a unit (all generated at creation) and storing them."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from mirrorneuron.game import Level, RoundSet, SamplingPlan, make_rounds
from mirrorneuron.store import repo
from mirrorneuron.units import HarvestedUnit
from mirrorneuron.web.schemas.common import LevelOut
from mirrorneuron.web.unitcache import UnitCache, unit_index


def level_out(level: int) -> LevelOut:
    lv = Level(level)
    return LevelOut(level=int(lv), name=lv.name.lower(), description=lv.description, multiplier=lv.multiplier)


def all_levels() -> list[LevelOut]:
    return [level_out(int(lv)) for lv in Level]


def new_seed() -> int:
    return secrets.randbelow(2**31)


def plan_for(sampling: dict[str, float] | None, seed: int) -> SamplingPlan:
    """The sampling plan of a game: the default mix, or a study's ``sampling`` proportions."""
    if not sampling:
        return SamplingPlan(seed=seed)
    return SamplingPlan(top=sampling["top"], bins=sampling["bins"], random=sampling["random"], seed=seed)


def build_rounds(cache: UnitCache, ctx: HarvestedUnit, level: int, n: int, plan: SamplingPlan) -> RoundSet:
    """All rounds of a game, made up front (levels 2–3 run the model, hence the lock)."""
    with cache.lock:
        return make_rounds(ctx, level, n, plan=plan, seed=plan.seed)


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


@dataclass(frozen=True)
class PreparedGame:
    """Everything needed to store a game; built outside the database session (it may run the model)."""

    ctx: HarvestedUnit
    rounds: RoundSet
    rows: list[dict[str, Any]]


def prepare_game(cache: UnitCache, ctx: HarvestedUnit, level: int, n: int, plan: SamplingPlan) -> PreparedGame:
    rs = build_rounds(cache, ctx, level, n, plan)
    return PreparedGame(ctx, rs, round_rows(ctx, rs))


def store_game(
    s: Session,
    player_id: str,
    game: PreparedGame,
    feedback: bool,
    study_id: str | None = None,
    practice: bool = False,
) -> str:
    """Register the model, unit and examples, then create the game with all its rounds. Returns the game id."""
    ctx = game.ctx
    repo.ensure_model(s, ctx.adapter.name, ctx.modality, ctx.adapter.checksum)
    ref = ctx.ref
    repo.ensure_unit(s, ref.id, ref.model, ref.site, ref.kind, unit_index(ref), game.rounds.stats.to_dict())
    repo.ensure_examples(
        s,
        ctx.adapter.name,
        [{"id": row["example_id"], "harvest_index": row["example_index"], "payload": row["payload"]["example"]}
         for row in game.rows],
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
    )
    return created.id
