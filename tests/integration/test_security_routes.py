"""Security rules checked over every route of ``app.routes`` (no hand list): state-changing methods need a
player cookie and its CSRF token, GETs never write, study admin routes are the owner's only, cookie flags.

Each check is a function returning the offending routes, so the planted-fault tests can run it against a copy
of the app with a route that breaks the rule and assert that the check names it."""

from __future__ import annotations

import re
from typing import Any

import web_fixtures as fx
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import select
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from mirrorneuron.store.db import make_engine
from mirrorneuron.store.models import Base
from mirrorneuron.web import create_app
from mirrorneuron.web.security import COOKIE
from mirrorneuron.web.settings import WebSettings

web_home, isolated_home, db_url, app = fx.web_home, fx.isolated_home, fx.db_url, fx.app

TEXT_UNIT = "tiny-gelu/blocks.0.mlp.post/neuron/5"
WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
STUDY_UNIT = "tiny-gelu/blocks.0.mlp.post/neuron/6"  # an open study locks its units: not the games' unit
STUDY = f"name: sec\nunits: [{STUDY_UNIT}]\nlevels: [0]\nrounds_per_unit: 2\npractice_rounds: 0\nseed: 1\n"


def snapshot(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table but the rate-limit buckets, sorted: equal snapshots mean nothing was stored. (A
    refused guess spends its rate-limit token by design, so that refusals cannot be used to probe for free.)"""
    engine = make_engine(url)
    tables = [t for t in Base.metadata.sorted_tables if t.name != "rate_buckets"]
    with engine.connect() as c:
        out = {t.name: sorted((tuple(map(repr, r)) for r in c.execute(select(t))), key=repr) for t in tables}
    engine.dispose()
    return out


def api_routes(items: list[Any], prefix: str = "") -> list[tuple[str, APIRoute]]:
    """(full path, route) of every APIRoute, through included routers (FastAPI ≥ 0.16x keeps them nested)."""
    out: list[tuple[str, APIRoute]] = []
    for r in items:
        if isinstance(r, APIRoute):
            out.append((prefix + r.path, r))
        elif hasattr(r, "original_router"):
            out += api_routes(r.original_router.routes, prefix + r.include_context.prefix)
    return out


def routes(app: FastAPI, methods: set[str]) -> list[tuple[str, str, APIRoute]]:
    return [(m, path, r) for path, r in api_routes(app.routes) for m in sorted(r.methods & methods)]


def concrete(path: str, values: dict[str, str]) -> str:
    """The route's path with each ``{param}`` (or ``{param:path}``) replaced by ``values`` (default ``x``)."""
    return re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: values.get(m.group(1), "x"), path)


class Player:
    def __init__(self, app: FastAPI, **kw: Any) -> None:
        self.client = TestClient(app, **kw)
        me = self.client.get("/api/players/me").json()
        self.id, self.csrf = me["player_id"], me["csrf_token"]

    def post(self, url: str, json: Any = None, **kw: Any) -> Any:
        return self.client.post(url, json=json, headers={"X-CSRF-Token": self.csrf, **kw.pop("headers", {})}, **kw)


def unprotected_writes(app: FastAPI) -> list[str]:
    """State-changing routes that answer anything but 401/403 without a cookie, without a CSRF token, with a
    wrong token, or with another player's token."""
    me, other = Player(app), Player(app)
    bad: list[str] = []
    for method, path, _ in routes(app, WRITE_METHODS):
        url = concrete(path, {"fmt": "csv"})
        tries = {
            "no cookie": TestClient(app).request(method, url, json={}),
            "no token": me.client.request(method, url, json={}),
            "wrong token": me.client.request(method, url, json={}, headers={"X-CSRF-Token": "0" * 32}),
            "other's token": me.client.request(method, url, json={}, headers={"X-CSRF-Token": other.csrf}),
            "form, no token": me.client.request(method, url, data={"x": "1"}),
        }
        bad += [f"{method} {path} ({why}: {r.status_code})" for why, r in tries.items() if r.status_code not in (401, 403)]
    return bad


def test_every_state_changing_route_needs_cookie_and_csrf(app: FastAPI) -> None:
    assert len(routes(app, WRITE_METHODS)) >= 10  # the enumeration sees the routers (not an empty app)
    assert unprotected_writes(app) == []


def test_planted_route_without_csrf_is_caught(db_url: str) -> None:
    copy = create_app(WebSettings(database_url=db_url, secret_key="test-secret", progression=False))

    def rename_everyone() -> dict[str, str]:
        return {"ok": "no CSRF dependency here"}

    copy.add_api_route("/api/planted/rename", rename_everyone, methods=["POST"])
    assert unprotected_writes(copy) and all("/api/planted/rename" in b for b in unprotected_writes(copy))


def get_writes(app: FastAPI, url: str) -> list[str]:
    """GET routes (filled with real ids of a played game and a study) after which the database differs."""
    p = Player(app)
    game = p.post("/api/games", {"unit": TEXT_UNIT, "level": 0, "rounds": 2}).json()["game_id"]
    rnd = p.client.get(f"/api/games/{game}/round").json()["round"]
    assert p.post(f"/api/rounds/{rnd['round_id']}/guess", {"token": rnd["token"], "value": 0.1}).status_code == 200
    study = p.client.post("/api/studies", content=STUDY, headers={"X-CSRF-Token": p.csrf, "Content-Type": "application/yaml"})
    assert study.status_code == 201, study.text
    values = {"game_id": game, "round_id": rnd["round_id"], "study_id": study.json()["study_id"], "unit_id": TEXT_UNIT,
              "player_id": p.id, "fmt": "csv", "token": "x"}
    bad = []
    for _, path, _ in routes(app, {"GET"}):
        before = snapshot(url)
        p.client.get(concrete(path, values), params={"unit": TEXT_UNIT, "text": "hi"})
        if snapshot(url) != before:
            bad.append(path)
    return bad


def test_get_routes_never_write(app: FastAPI, db_url: str) -> None:
    assert get_writes(app, db_url) == []


def test_planted_writing_get_is_caught(db_url: str) -> None:
    copy = create_app(WebSettings(database_url=db_url, secret_key="test-secret", progression=False))

    async def sneaky() -> dict[str, str]:
        await copy.state.mn.db.write(lambda s: __import__("mirrorneuron.store.repo", fromlist=["x"]).ensure_player(s, None).id)
        return {}

    copy.add_api_route("/api/planted/sneaky", sneaky, methods=["GET"])
    assert get_writes(copy, db_url) == ["/api/planted/sneaky"]


def study_admin_routes(app: FastAPI) -> list[tuple[str, str, APIRoute]]:
    """Routes under a study id that only its owner may use: everything but the invite (``/s/``, ``/api/s/``)."""
    return [(m, p, r) for m, p, r in routes(app, {"GET", *WRITE_METHODS}) if "{study_id}" in p and "/s/{" not in p]


def test_study_admin_routes_are_the_owners_only(app: FastAPI, db_url: str) -> None:
    owner, stranger = Player(app), Player(app)
    made = owner.client.post("/api/studies", content=STUDY, headers={"X-CSRF-Token": owner.csrf, "Content-Type": "application/yaml"})
    study_id = made.json()["study_id"]
    admin = study_admin_routes(app)
    assert {"/api/studies/{study_id}", "/api/studies/{study_id}/close", "/studies/{study_id}"} <= {p for _, p, _ in admin}
    for method, path, _ in admin:
        url = concrete(path, {"study_id": study_id, "fmt": "csv"})
        before = snapshot(db_url)
        for who in (stranger.client, TestClient(app)):
            r = who.request(method, url, headers={"X-CSRF-Token": stranger.csrf})
            assert r.status_code == 403, (method, path, r.status_code)
        assert snapshot(db_url) == before or method == "GET"  # a cookie-less GET page may make a player
        ok = owner.client.request(method, url, headers={"X-CSRF-Token": owner.csrf})
        assert ok.status_code == 200, (method, path, ok.text)


def cookie_of(client: TestClient, **headers: str) -> str:
    return str(client.get("/api/players/me", headers=headers).headers["set-cookie"])


def test_cookie_flags_httponly_samesite_and_secure_on_https(app: FastAPI, db_url: str) -> None:
    plain = cookie_of(TestClient(app))
    assert plain.startswith(f"{COOKIE}=") and "HttpOnly" in plain and "SameSite=Lax" in plain and "Secure" not in plain
    assert "Secure" in cookie_of(TestClient(app, base_url="https://testserver"))
    proxied = TestClient(ProxyHeadersMiddleware(app, trusted_hosts="*"))  # what uvicorn.run wraps the app in
    assert "Secure" in cookie_of(proxied, **{"X-Forwarded-Proto": "https"})
    assert "Secure" not in cookie_of(proxied, **{"X-Forwarded-Proto": "http"})
    forced = create_app(WebSettings(database_url=db_url, secret_key="test-secret", cookie_secure=True))
    assert "Secure" in cookie_of(TestClient(forced))
