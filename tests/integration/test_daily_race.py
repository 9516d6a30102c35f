"""Two first starts of the same player's daily game at once (two Postgres workers) store one game."""

from __future__ import annotations

import threading
from datetime import date

import pytest
import store_fixtures as fx
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mirrorneuron.gameplay import daily as daily_mod
from mirrorneuron.store import repo
from mirrorneuron.store.db import make_engine, migrate, session_factory
from mirrorneuron.store.models import Game

pg_server = fx.pg_server
DAY = date(2026, 5, 1)


def test_concurrent_first_starts_store_one_daily_game(pg_server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = make_engine(fx.fresh_postgres_database(pg_server))
    migrate(engine)
    sessions = session_factory(engine)
    daily = daily_mod.Daily(DAY, "m/blocks.0.mlp.post/neuron/3", seed=1)
    with sessions() as s:
        player = repo.ensure_player(s, None).id
        s.commit()
    # the first start's transaction stays open (its game flushed, not committed) while the second one starts
    first = sessions()
    monkeypatch.setattr(daily_mod, "store_game", lambda s, pid, g, fb, policy=None: _uncommitted(s, pid, policy))
    gid_a, created_a = daily_mod.store_daily(first, player, object(), daily)  # type: ignore[arg-type]
    result: dict[str, tuple[str, bool]] = {}

    def second_start() -> None:
        with sessions() as s2:
            result["b"] = daily_mod.store_daily(s2, player, object(), daily)  # type: ignore[arg-type]
            s2.commit()

    t = threading.Thread(target=second_start)
    t.start()
    t.join(1.0)
    assert t.is_alive(), "the second start did not wait for the first one's transaction"
    first.commit()
    first.close()
    t.join(10)
    assert created_a and result["b"] == (gid_a, False)
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(Game).where(Game.policy == daily.policy)) == 1
    engine.dispose()


def _uncommitted(s: Session, player_id: str, policy: str | None) -> str:
    unit_id, examples = fx.seed_unit(s, n_examples=2)
    game = repo.create_game(
        s, player_id, unit_id, feedback=True, seed=0, rounds=fx.round_dicts(examples, [0.0, 1.0]), level=1,
        design="daily", policy=policy,
    )
    s.flush()
    return game.id
