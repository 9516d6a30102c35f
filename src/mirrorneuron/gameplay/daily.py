"""The daily unit: one unit and one fixed set of rounds per UTC day, the same for every player.

Both follow from the day's seed, which the deployment derives from the date and its secret (so nobody can
compute a later day's rounds ahead): the unit is a lively neuron of the default text model
(:func:`mirrorneuron.units.lively_unit`, skipping units an open study locks), the rounds are drawn from the
unit's held-out half like any game's but without the player's history, so everyone is asked the same
examples in the same order. A daily game is stored with design ``"daily"``, the seed, and policy
``daily:YYYY-MM-DD``, by which a player's game of the day is found again: one daily game per player and day.
"""

from __future__ import annotations

from collections.abc import Callable, Container
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mirrorneuron.game import SamplingPlan
from mirrorneuron.gameplay.games import PreparedGame, prepare_game, store_game
from mirrorneuron.store.models import Game, Player
from mirrorneuron.units import HarvestedUnit

DAILY_LEVEL = 1  # examples: the reference examples make a first game of a fresh unit learnable
DAILY_ROUNDS = 10
MAX_TRIES = 20  # lively units tried until one no open study locks


def daily_policy(day: date) -> str:
    return f"daily:{day.isoformat()}"


def daily_seed(digest: bytes) -> int:
    """The day's seed from a keyed digest of the date (31 bits: the store's seed column)."""
    return int.from_bytes(digest[:8], "big") % 2**31


@dataclass(frozen=True)
class Daily:
    day: date
    unit_id: str
    seed: int
    level: int = DAILY_LEVEL
    rounds: int = DAILY_ROUNDS

    @property
    def policy(self) -> str:
        return daily_policy(self.day)


def choose_daily(day: date, seed: int, pick: Callable[[int], str], locked: Container[str]) -> Daily:
    """The day's unit: ``pick(seed + k)`` (a lively unit per seed) for the first k whose unit is not locked."""
    units = (pick(seed + k) for k in range(MAX_TRIES))
    return Daily(day, next((u for u in units if u not in locked), pick(seed)), seed)


def prepare_daily(ctx: HarvestedUnit, daily: Daily, lock: AbstractContextManager[Any] | None = None) -> PreparedGame:
    """The day's rounds (the same for every player: no history exclusion)."""
    if ctx.unit_id != daily.unit_id:
        raise ValueError(f"the daily unit is {daily.unit_id}, not {ctx.unit_id}")
    plan = SamplingPlan(seed=daily.seed)
    return prepare_game(ctx, daily.level, daily.rounds, plan, None, "daily", lock=lock)


def find_daily_game(s: Session, player_id: str | None, day: date) -> str | None:
    """The id of ``player_id``'s daily game of ``day``, or None."""
    if not player_id:
        return None
    stmt = (
        select(Game.id)
        .where(Game.player_id == player_id, Game.design == "daily", Game.policy == daily_policy(day))
        .order_by(Game.created_at)
        .limit(1)
    )
    return s.scalars(stmt).first()


def store_daily(s: Session, player_id: str, game: PreparedGame, daily: Daily) -> tuple[str, bool]:
    """Store the player's daily game unless they have one for the day: (game id, whether it was created).

    The player's row is locked first (``FOR UPDATE``; SQLite has no row locks, its writes are serialised per
    process by ``web.db.Db``), so two first starts of the day on Postgres workers cannot both find no game."""
    s.execute(select(Player.id).where(Player.id == player_id).with_for_update())
    existing = find_daily_game(s, player_id, daily.day)
    if existing is not None:
        return existing, False
    return store_game(s, player_id, game, True, policy=daily.policy), True
