"""Games on the web side: levels for the pages, and building a player's game from the unit cache."""

from __future__ import annotations

import secrets

from mirrorneuron.game import Level, SamplingPlan
from mirrorneuron.gameplay import PreparedGame, prepare_game, seen_examples
from mirrorneuron.units import HarvestedUnit
from mirrorneuron.web.schemas.common import LevelOut
from mirrorneuron.web.unitcache import UnitCache


def level_out(level: int) -> LevelOut:
    lv = Level(level)
    return LevelOut(level=int(lv), name=lv.name.lower(), description=lv.description, multiplier=lv.multiplier)


def all_levels() -> list[LevelOut]:
    return [level_out(int(lv)) for lv in Level]


def new_seed() -> int:
    """A fresh random seed; every game records the seed its rounds were drawn with."""
    return secrets.randbelow(2**31)


def prepare_for_player(
    cache: UnitCache,
    ctx: HarvestedUnit,
    level: int,
    n: int,
    plan: SamplingPlan,
    shown: list[tuple[str, int, int]],
    design: str = "casual",
) -> PreparedGame:
    """A game whose rounds skip every window the player was shown before (``shown``: their earlier rounds
    on this model, from :func:`store.history.shown_rounds`)."""
    return prepare_game(ctx, level, n, plan, seen_examples(ctx, shown, level), design, lock=cache.lock)
