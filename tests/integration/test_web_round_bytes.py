"""The round fetch sends the stored payload's JSON text after validating that text against the response model
(``web.services.rounds``): the response is what the validated models would serve, and a stored payload with
any field beyond the model (an answer riding along) is refused, never served."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import update
from test_web_queries import playable_game

from mirrorneuron.store.models import Round
from mirrorneuron.store.play import ServedRound
from mirrorneuron.web import create_app
from mirrorneuron.web.routers import games as games_router
from mirrorneuron.web.schemas.games import NextRoundOut, RoundOut
from mirrorneuron.web.security import COOKIE
from mirrorneuron.web.settings import WebSettings

SECRET = 0.123456789  # a value no honest payload holds


@pytest.fixture
def game(tmp_path: Path) -> tuple[FastAPI, TestClient, str]:
    app = create_app(WebSettings(database_url=f"sqlite:///{tmp_path / 'b.db'}", secret_key="s", progression=False))
    st = app.state.mn
    with st.db.factory() as s:
        g = playable_game(s)
    client = TestClient(app, raise_server_exceptions=False)
    client.cookies.set(COOKIE, st.keys.sign(g.player_id))
    return app, client, g.id


def plant(app: FastAPI, game_id: str, edit: object) -> None:
    """Rewrite every stored payload of the game with ``edit(payload)`` (as a faulty writer would store it)."""
    with app.state.mn.db.factory() as s:
        for rnd in s.query(Round).filter(Round.game_id == game_id):
            payload = json.loads(json.dumps(rnd.payload))
            edit(payload)  # type: ignore[operator]
            s.execute(update(Round).where(Round.id == rnd.id).values(payload=payload))
        s.commit()


def test_the_response_is_what_the_validated_models_serve(game: tuple[FastAPI, TestClient, str]) -> None:
    app, client, game_id = game
    res = client.get(f"/api/games/{game_id}/round")
    assert res.status_code == 200 and res.headers["content-type"] == "application/json"
    got = NextRoundOut.model_validate_json(res.content)  # extra="forbid": nothing beyond the model
    with app.state.mn.db.factory() as s:
        rnd = s.query(Round).filter(Round.game_id == game_id, Round.seq == 0).one()
        expected = NextRoundOut(
            game_id=game_id, done=False, n_answered=0, n_rounds=4,
            round=RoundOut(round_id=rnd.id, game_id=game_id, token=rnd.token, seq=0, n_rounds=4, **rnd.payload),
        )  # fmt: skip
    assert got == expected
    assert orjson.loads(res.content) == orjson.loads(expected.model_dump_json())  # the same bytes' meaning


@pytest.mark.parametrize(
    "where",
    [
        lambda p: p.update(actual=SECRET),
        lambda p: p["hints"].update(actual=SECRET),
        lambda p: p["hints"]["stats"].update(actual=SECRET),
        lambda p: p["example"].update(activation=SECRET),
    ],
    ids=["top", "hints", "stats", "example"],
)
def test_a_payload_with_an_extra_field_is_refused(game: tuple[FastAPI, TestClient, str], where: object) -> None:
    """Planted fault: the activation rides along in the stored payload, at any depth; the fetch refuses it
    (500, no details) and the value is never in the response."""
    app, client, game_id = game
    plant(app, game_id, where)
    res = client.get(f"/api/games/{game_id}/round")
    assert res.status_code == 500 and res.json() == {"detail": "internal error"}
    assert str(SECRET) not in res.text


def test_the_refusal_test_catches_a_missing_guard(
    game: tuple[FastAPI, TestClient, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Planted fault in the server: the route sends the stored text on without validating it (the shortcut
    the guard forbids). The planted answer is then served, so the refusal test above fails on such a route."""
    app, client, game_id = game

    def unguarded(game_id: str, n_rounds: int, rnd: ServedRound) -> bytes:
        head = orjson.dumps({"game_id": game_id, "done": False, "n_answered": rnd.seq, "n_rounds": n_rounds})
        return head[:-1] + b',"round":' + rnd.payload_json.encode() + b"}"

    plant(app, game_id, lambda p: p["hints"].update(actual=SECRET))
    monkeypatch.setattr(games_router, "round_response", unguarded)
    res = client.get(f"/api/games/{game_id}/round")
    assert res.status_code == 200 and str(SECRET) in res.text


def test_the_games_own_copies_are_not_served(game: tuple[FastAPI, TestClient, str]) -> None:
    """A payload as ``game.Round.to_dict`` writes it carries the game's round id and seq: accepted, and the
    response carries the stored round's id and seq instead."""
    app, client, game_id = game
    plant(app, game_id, lambda p: p.update(round_id="game-internal-id", seq=77))
    res = client.get(f"/api/games/{game_id}/round")
    assert res.status_code == 200 and "game-internal-id" not in res.text
    rnd = NextRoundOut.model_validate_json(res.content).round
    assert rnd is not None and rnd.seq == 0 and rnd.round_id != "game-internal-id"


def test_a_non_finite_stored_float_still_gives_valid_json(game: tuple[FastAPI, TestClient, str]) -> None:
    """Python's json stores NaN as a bare ``NaN`` (not JSON); the response is still JSON (null), as before."""
    app, client, game_id = game
    plant(app, game_id, lambda p: p["hints"]["stats"].update(q99=float("nan")))
    res = client.get(f"/api/games/{game_id}/round")
    assert res.status_code == 200
    assert orjson.loads(res.content)["round"]["hints"]["stats"]["q99"] is None
