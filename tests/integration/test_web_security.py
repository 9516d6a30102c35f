"""Security rules of the web game: tokens, CSRF, rate limit, errors, withheld spoilers. (That no route serves a
round's truth before its guess is checked route by route by the adversarial walk in ``test_leaks.py``.)"""

from __future__ import annotations

from typing import Any

import pytest
import web_fixtures as fx
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mirrorneuron.web import create_app
from mirrorneuron.web.security import COOKIE
from mirrorneuron.web.settings import WebSettings

web_home, isolated_home, db_url, app = fx.web_home, fx.isolated_home, fx.db_url, fx.app

TEXT_UNIT = "tiny-gelu/blocks.0.mlp.post/neuron/5"
IMAGE_UNIT = "digits-mlp/layers.0.post/neuron/7"


class Player:
    def __init__(self, app: FastAPI) -> None:
        self.client = TestClient(app)
        self.seen: list[str] = []  # every response body this player received
        me = self.get("/api/players/me").json()
        self.id, self.csrf = me["player_id"], me["csrf_token"]

    def _keep(self, r: Any) -> Any:
        self.seen.append(r.text)
        return r

    def get(self, url: str, **kw: Any) -> Any:
        return self._keep(self.client.get(url, **kw))

    def post(self, url: str, json: Any = None, csrf: str | None = "", **kw: Any) -> Any:
        headers = dict(kw.pop("headers", {}))
        if csrf is not None:
            headers["X-CSRF-Token"] = csrf or self.csrf
        return self._keep(self.client.post(url, json=json, headers=headers, **kw))

    def new_game(self, **spec: Any) -> str:
        r = self.post("/api/games", {"rounds": 5, **spec})
        assert r.status_code == 201, r.text
        return str(r.json()["game_id"])

    def next_round(self, game_id: str) -> dict[str, Any] | None:
        nxt = self.get(f"/api/games/{game_id}/round").json()
        return None if nxt["done"] else dict(nxt["round"])

    def guess(self, rnd: dict[str, Any], value: float = 0.0) -> Any:
        return self.post(f"/api/rounds/{rnd['round_id']}/guess", {"token": rnd["token"], "value": value})


def test_feedback_off_guess_answers_without_truth_or_score(app: FastAPI) -> None:
    p = Player(app)
    game_id = p.new_game(unit=TEXT_UNIT, level=0, feedback=False)
    rnd = p.next_round(game_id)
    assert rnd is not None
    body = p.guess(rnd, 1.0).json()
    assert body["feedback"] is False and body["actual"] is None and body["score"] is None and body["points"] is None
    assert body["max_points"] is None
    r = p.get(f"/api/rounds/{rnd['round_id']}/reveal")
    assert r.status_code == 403


def test_second_guess_is_409(app: FastAPI) -> None:
    p = Player(app)
    rnd = p.next_round(p.new_game(unit=TEXT_UNIT, level=0))
    assert rnd is not None
    assert p.guess(rnd, 0.5).status_code == 200
    again = p.guess(rnd, 0.7)
    assert again.status_code == 409 and "already" in again.json()["detail"]


def test_reveal_before_the_guess_is_refused(app: FastAPI) -> None:
    p = Player(app)
    rnd = p.next_round(p.new_game(unit=TEXT_UNIT, level=0))
    assert rnd is not None
    r = p.get(f"/api/rounds/{rnd['round_id']}/reveal")
    assert r.status_code == 409 and "actual" not in r.text


def test_missing_or_foreign_round_token_is_403(app: FastAPI) -> None:
    p = Player(app)
    game_id = p.new_game(unit=TEXT_UNIT, level=0)
    rnd = p.next_round(game_id)
    other = p.next_round(p.new_game(unit=TEXT_UNIT, level=0))
    assert rnd is not None and other is not None
    url = f"/api/rounds/{rnd['round_id']}/guess"
    assert p.post(url, {"token": other["token"], "value": 1.0}).status_code == 403
    assert p.post(url, {"token": "x" * 22, "value": 1.0}).status_code == 403
    missing = p.post(url, {"value": 1.0})
    assert missing.status_code == 422 and "token" in missing.json()["detail"]
    assert p.guess(rnd).status_code == 200  # the round is still open for the right token


def test_another_players_game_and_rounds_are_403(app: FastAPI) -> None:
    owner, thief = Player(app), Player(app)
    game_id = owner.new_game(unit=TEXT_UNIT, level=1)
    rnd = owner.next_round(game_id)
    assert rnd is not None
    assert thief.get(f"/api/games/{game_id}/round").status_code == 403
    assert thief.get(f"/api/games/{game_id}").status_code == 403
    assert thief.get(f"/play/{game_id}").status_code == 403
    assert thief.guess(rnd).status_code == 403  # even with the right token
    assert owner.guess(rnd).status_code == 200
    assert thief.get(f"/api/rounds/{rnd['round_id']}/reveal").status_code == 403
    assert thief.get("/api/games/nope/round").status_code in (403, 404)
    anonymous = TestClient(app)
    assert anonymous.get(f"/api/games/{game_id}").status_code == 403


def test_rate_limit_is_429(db_url: str) -> None:
    fast = create_app(WebSettings(database_url=db_url, secret_key="test-secret", guess_rate=0.01, guess_burst=3, progression=False))
    p = Player(fast)
    codes = [p.post("/api/rounds/nope/guess", {"token": "t", "value": 1.0}).status_code for _ in range(5)]
    assert codes == [404, 404, 404, 429, 429]
    other = Player(fast)  # per player
    assert other.post("/api/rounds/nope/guess", {"token": "t", "value": 1.0}).status_code == 404


def test_csrf_on_forms_and_api(app: FastAPI) -> None:
    p = Player(app)
    form = {"model": "tiny-gelu", "unit": "blocks.0.mlp.post/5", "level": "0", "rounds": "2"}
    assert p.client.post("/play", data=form, follow_redirects=False).status_code == 403
    assert p.client.post("/play", data={**form, "csrf_token": "0" * 32}, follow_redirects=False).status_code == 403
    ok = p.client.post("/play", data={**form, "csrf_token": p.csrf}, follow_redirects=False)
    assert ok.status_code == 303
    cross = p.client.post(
        "/play", data={**form, "csrf_token": p.csrf}, headers={"Origin": "https://evil.example"}, follow_redirects=False
    )
    assert cross.status_code == 403 and "cross-origin" in cross.json()["detail"]
    assert p.post("/api/games", {"rounds": 2}, csrf=None).status_code == 403
    assert p.post("/api/games", {"rounds": 2}, csrf="wrong").status_code == 403
    other = Player(app)
    assert p.post("/api/games", {"rounds": 2}, csrf=other.csrf).status_code == 403  # tokens are per player
    assert p.client.post("/players/me/name", data={"name": "Mallory"}).status_code == 403
    assert p.client.post("/studies", data={"config": "name: x"}).status_code == 403


def test_player_cookie_is_signed_httponly_samesite(app: FastAPI) -> None:
    c = TestClient(app)
    r = c.get("/")
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=") and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    player_id = c.get("/api/players/me").json()["player_id"]
    assert "set-cookie" not in c.get("/api/players/me").headers  # known player: no new cookie
    forged = TestClient(app, cookies={COOKIE: f"{player_id}.forgedsignature"})
    assert forged.get("/api/players/me").json()["player_id"] != player_id
    raw = TestClient(app, cookies={COOKIE: player_id})
    assert raw.get("/api/players/me").json()["player_id"] != player_id


def test_spoilers_are_withheld_while_a_game_is_open(app: FastAPI) -> None:
    """The unit page's top examples, custom text and the leaderboard could give a round's answer away."""
    p = Player(app)
    game_id = p.new_game(unit=TEXT_UNIT, level=1, rounds=1)
    unit = p.get(f"/api/units/{TEXT_UNIT}").json()
    assert unit["withheld"] and unit["top"] == [] and all(b["examples"] == [] for b in unit["bins"])
    assert unit["players"] == []
    assert "hidden until you finish" in p.get(f"/units/{TEXT_UNIT}").text
    assert p.get("/api/custom", params={"unit": TEXT_UNIT, "text": "hello there"}).status_code == 403
    assert p.get(f"/api/leaderboard/{TEXT_UNIT}").json()["withheld"]
    rnd = p.next_round(game_id)
    assert rnd is not None and p.guess(rnd).status_code == 200
    assert not p.get(f"/api/units/{TEXT_UNIT}").json()["withheld"]
    assert p.get("/api/custom", params={"unit": TEXT_UNIT, "text": "hello there"}).status_code == 200


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"token": "t", "value": "abc"}, "value"),
        ({"token": "t", "value": "NaN"}, "value"),
        ({"token": "t"}, "value"),
        ({"token": "t", "value": 1, "seconds": -1}, "seconds"),
        ({"token": "t", "value": 1, "extra": 1}, "extra"),
    ],
)
def test_bad_guess_bodies_are_422(app: FastAPI, body: dict[str, Any], field: str) -> None:
    p = Player(app)
    r = p.post("/api/rounds/whatever/guess", body)
    assert r.status_code == 422 and field in r.json()["detail"]


def test_non_finite_json_number_is_422(app: FastAPI) -> None:
    p = Player(app)
    r = p.client.post(
        "/api/rounds/whatever/guess",
        content=b'{"token": "t", "value": Infinity}',
        headers={"X-CSRF-Token": p.csrf, "Content-Type": "application/json"},
    )
    assert r.status_code == 422


def test_errors_are_json_without_traceback(app: FastAPI) -> None:
    def boom() -> None:
        raise ZeroDivisionError("do not show this")

    app.add_api_route("/api/test-security-boom", boom)
    c = TestClient(app, raise_server_exceptions=False)
    r = c.get("/api/test-security-boom")
    assert r.status_code == 500 and r.json() == {"detail": "internal error"}
    html = c.get("/no/such/page", headers={"Accept": "text/html"})
    assert html.status_code == 404 and "Not found" in html.text and "Traceback" not in html.text
    assert c.get("/api/no/such").json() == {"detail": "Not Found"}


def test_html_is_escaped_and_pages_carry_security_headers(app: FastAPI) -> None:
    p = Player(app)
    evil = "<script>alert(1)</script>"
    assert p.post("/api/players/me/name", {"name": evil}).status_code == 200
    page = p.get(f"/players/{p.id}")
    assert evil not in page.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert page.headers["x-content-type-options"] == "nosniff" and page.headers["x-frame-options"] == "DENY"
    game_id = p.new_game(unit=TEXT_UNIT, level=0, rounds=1)
    play = p.get(f"/play/{game_id}").text
    assert "<script>alert" not in play  # the embedded game JSON escapes '<'
