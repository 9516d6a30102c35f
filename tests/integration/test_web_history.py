"""The web game never asks a player a window it has shown them: not in a second game on the same unit (same
seed), not after a level-2 game on another unit of the model — while another player still gets those items."""

from __future__ import annotations

from typing import Any

import web_fixtures as fx
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from mirrorneuron.store.db import make_engine, session_factory
from mirrorneuron.store.models import Round

web_home, isolated_home, db_url, app = fx.web_home, fx.isolated_home, fx.db_url, fx.app
UNIT, OTHER = "tiny-gelu/blocks.0.mlp.post/neuron/5", "tiny-gelu/blocks.1.mlp.post/neuron/9"
POSITIONS = 64  # tiny-gelu's window: example index // 64 is the window


class Player:
    def __init__(self, app: FastAPI) -> None:
        self.client = TestClient(app)
        me = self.client.get("/api/players/me").json()
        self.csrf = me["csrf_token"]

    def game(self, **spec: Any) -> str:
        r = self.client.post("/api/games", json={"rounds": 6, "seed": 0, **spec}, headers={"X-CSRF-Token": self.csrf})
        assert r.status_code == 201, r.text
        return str(r.json()["game_id"])


def windows(db_url: str, game_id: str) -> list[int]:
    engine = make_engine(db_url)
    with session_factory(engine)() as s:
        rows = s.scalars(select(Round.example_index).where(Round.game_id == game_id).order_by(Round.seq)).all()
    engine.dispose()
    return [i // POSITIONS for i in rows]


def test_no_window_is_asked_twice_and_level_2_hints_count_as_shown(app: FastAPI, db_url: str) -> None:
    alice, bob = Player(app), Player(app)
    first = windows(db_url, alice.game(unit=UNIT, level=1))
    again = windows(db_url, alice.game(unit=UNIT, level=1))  # same unit, same seed
    assert len(set(first)) == len(first) == 6 and not set(first) & set(again)
    assert windows(db_url, bob.game(unit=UNIT, level=1)) == first  # a fresh player gets the shared items
    neighbours = windows(db_url, alice.game(unit=OTHER, level=2))  # avoids every window alice was shown
    assert not set(neighbours) & (set(first) | set(again))
    later = windows(db_url, alice.game(unit=UNIT, level=0))  # its hints showed UNIT's neighbours' values there
    assert not set(later) & (set(first) | set(again) | set(neighbours))


def test_the_check_catches_a_game_that_ignores_history(app: FastAPI, db_url: str, monkeypatch: Any) -> None:
    """Planted fault: the web forgets the player's history; the same seed then asks the same windows again."""
    import numpy as np

    import mirrorneuron.web.services.games as games

    monkeypatch.setattr(games, "seen_examples", lambda ctx, shown, level=0: np.zeros(ctx.values.size, dtype=bool))
    carol = Player(app)
    first = windows(db_url, carol.game(unit=UNIT, level=1))
    assert windows(db_url, carol.game(unit=UNIT, level=1)) == first  # what the first test rules out
