"""How many SQL statements the two hot requests run (a regression that adds a query fails here): a round
fetch is one indexed SELECT; a guess is the rate-limit upsert, the round's SELECT and the guess's INSERT.
Counted with an SQLAlchemy ``before_cursor_execute`` listener on the app's engine, caches warm."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event
from sqlalchemy.orm import Session
from store_fixtures import round_dicts, seed_unit

from mirrorneuron.store import repo
from mirrorneuron.web import create_app
from mirrorneuron.web.security import COOKIE
from mirrorneuron.web.settings import WebSettings

ROUND_FETCH_STATEMENTS = 1
GUESS_STATEMENTS = 3


@contextmanager
def statements(engine: Engine) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)


def playable_game(s: Session, n_rounds: int = 4, player_id: str | None = None) -> repo.Game:
    """A committed feedback game whose rounds carry what the round endpoint serves (no model needed)."""
    unit_id, examples = seed_unit(s, n_examples=n_rounds)
    rounds = round_dicts(examples, [0.25 * i for i in range(n_rounds)])
    stats = dict.fromkeys(("min", "max", "mean", "q01", "q10", "q50", "q90", "q99"), 0.0) | {"scale": 2.0}
    for r in rounds:
        r["payload"] = {
            "unit_id": unit_id,
            "level": 0,
            "multiplier": 1.0,
            "scale": 2.0,
            "example": {"kind": "text", "tokens": ["a", "b"], "target": 1},
            "hints": {"level": 0, "unit_id": unit_id, "stats": stats},
        }
    player = repo.ensure_player(s, player_id)
    game = repo.create_game(s, player.id, unit_id, level=0, feedback=True, seed=0, rounds=rounds)
    s.commit()
    return game


@pytest.fixture
def setup(tmp_path: Path) -> tuple[FastAPI, TestClient, str]:
    app = create_app(WebSettings(database_url=f"sqlite:///{tmp_path / 'q.db'}", secret_key="s", progression=False))
    st = app.state.mn
    with st.db.factory() as s:
        game = playable_game(s)
    client = TestClient(app)
    client.cookies.set(COOKIE, st.keys.sign(game.player_id))
    client.headers["X-CSRF-Token"] = st.keys.csrf_token(game.player_id)
    return app, client, game.id


def play_one(app: FastAPI, client: TestClient, game_id: str) -> tuple[list[str], list[str]]:
    """Fetch the next round, then guess it: the statements each request ran."""
    engine = app.state.mn.db.engine
    with statements(engine) as fetch:
        rnd = client.get(f"/api/games/{game_id}/round").raise_for_status().json()["round"]
    with statements(engine) as guess:
        body = {"token": rnd["token"], "value": 0.3, "seconds": 1.0}
        client.post(f"/api/rounds/{rnd['round_id']}/guess", json=body).raise_for_status()
    return fetch, guess


def test_statements_per_round_fetch_and_guess(setup: tuple[FastAPI, TestClient, str]) -> None:
    app, client, game_id = setup
    play_one(app, client, game_id)  # warms the per-process game memo
    for _ in range(2):
        fetch, guess = play_one(app, client, game_id)
        assert len(fetch) == ROUND_FETCH_STATEMENTS, fetch
        assert len(guess) == GUESS_STATEMENTS, guess


def test_the_count_catches_an_extra_query(setup: tuple[FastAPI, TestClient, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Planted fault: the game memo stops remembering, so every request reads the game again."""
    app, client, game_id = setup
    play_one(app, client, game_id)
    monkeypatch.setattr(app.state.mn.games, "get", lambda _key: None)
    fetch, guess = play_one(app, client, game_id)
    assert len(fetch) > ROUND_FETCH_STATEMENTS and len(guess) > GUESS_STATEMENTS


def test_a_refused_guess_still_spends_its_token(tmp_path: Path) -> None:
    """The token and the guess share one transaction, yet a 409 (whose rollback undoes the token) and a 403
    spend a token as a 404 does: burst 3 → 200, 409, 403, then 429."""
    url = f"sqlite:///{tmp_path / 'r.db'}"
    app = create_app(WebSettings(database_url=url, secret_key="s", guess_rate=0.001, guess_burst=3))
    st = app.state.mn
    with st.db.factory() as s:
        game = playable_game(s)
    client = TestClient(app)
    client.cookies.set(COOKIE, st.keys.sign(game.player_id))
    client.headers["X-CSRF-Token"] = st.keys.csrf_token(game.player_id)
    rnd = client.get(f"/api/games/{game.id}/round").json()["round"]
    url_guess = f"/api/rounds/{rnd['round_id']}/guess"
    codes = [
        client.post(url_guess, json={"token": rnd["token"], "value": 0.1}).status_code,
        client.post(url_guess, json={"token": rnd["token"], "value": 0.2}).status_code,
        client.post(url_guess, json={"token": "wrong", "value": 0.3}).status_code,
        client.post(url_guess, json={"token": rnd["token"], "value": 0.4}).status_code,
    ]
    assert codes == [200, 409, 403, 429]
