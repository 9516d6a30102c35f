"""An open study locks its units: unit pages, custom text and leaderboards answer 403 to everyone (no cookie,
the owner, a participant) until the owner closes it; then they serve again."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import web_fixtures as fx
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import event

from mirrorneuron.store import locks
from mirrorneuron.store.db import make_engine, session_factory
from mirrorneuron.store.studies import close_study

web_home, isolated_home, db_url, app = fx.web_home, fx.isolated_home, fx.db_url, fx.app

UNIT = "tiny-gelu/blocks.0.mlp.post/neuron/21"
OTHER = "tiny-gelu/blocks.0.mlp.post/neuron/22"  # in no study: never locked


def config(units: list[str], name: str = "lock test") -> str:
    return json.dumps({"name": name, "units": units, "levels": [1], "rounds_per_unit": 2, "practice_rounds": 0})


def locked_routes(unit: str) -> list[str]:
    """Every route that serves values of ``unit`` (or scores computed from them)."""
    text = "It is a truth universally acknowledged"
    return [
        f"/api/units/{unit}",
        f"/units/{unit}",
        f"/api/custom?unit={unit}&text={text}",
        f"/custom?unit={unit}",
        f"/api/leaderboard/{unit}?level=1",
        f"/leaderboard/{unit}?level=1",
    ]


class Client:
    def __init__(self, app: FastAPI, cookie: bool = True) -> None:
        self.client = TestClient(app)
        self.csrf = ""
        if cookie:
            me = self.client.get("/api/players/me").json()
            self.id, self.csrf = me["player_id"], me["csrf_token"]

    def post(self, url: str, body: str | None = None, csrf: bool = True, **headers: str) -> Any:
        hdrs = {"Content-Type": "application/json", **headers, **({"X-CSRF-Token": self.csrf} if csrf else {})}
        return self.client.post(url, content=body, headers=hdrs)


def served(clients: list[Client], unit: str) -> list[str]:
    """The routes (per client) that served ``unit`` instead of refusing it as locked; each refusal must be a 403
    whose JSON detail names the lock."""
    leaks = []
    for i, c in enumerate(clients):
        for url in locked_routes(unit):
            r = c.client.get(url)
            if r.status_code == 403 and "locked" in r.json()["detail"]:
                continue
            assert r.status_code == 200, f"{url}: {r.status_code} {r.text[:200]}"
            leaks.append(f"client {i}: {url}")
    return leaks


@pytest.fixture(scope="module")
def owner(app: FastAPI) -> Client:
    return Client(app)


@pytest.fixture
def study(owner: Client, app: FastAPI) -> Iterator[str]:
    """An open study on UNIT with one participant who joined; closed at the end whatever happened."""
    r = owner.post("/api/studies", config([UNIT]))
    assert r.status_code == 201, r.text
    study_id = str(r.json()["study_id"])
    joined = Client(app).post(f"/api/s/{study_id}")
    assert joined.status_code == 200 and joined.json()["joined"], joined.text
    yield study_id
    owner.post(f"/api/studies/{study_id}/close")


def test_open_study_locks_its_units_for_everyone_until_closed(app: FastAPI, owner: Client, study: str) -> None:
    participant = Client(app)
    participant.post(f"/api/s/{study}")
    clients = [Client(app, cookie=False), owner, participant]
    assert served(clients, UNIT) == []
    detail = clients[0].client.get(f"/api/units/{UNIT}").json()["detail"]
    assert study in detail and UNIT in detail
    assert len(served(clients[:1], OTHER)) == len(locked_routes(OTHER))  # units outside the study stay open
    r = owner.post(f"/api/studies/{study}/close")
    assert r.status_code == 200 and r.json()["unlocked_units"] == [UNIT]
    free = clients[:2]  # the participant's games are unfinished: custom text stays withheld from them
    assert len(served(free, UNIT)) == len(free) * len(locked_routes(UNIT))


def test_the_lock_check_reports_a_planted_unlock(app: FastAPI, study: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Planted fault: ``locking_study`` answers None (no lock) → every route serves, and ``served`` says so."""
    anonymous = [Client(app, cookie=False)]
    assert served(anonymous, UNIT) == []
    monkeypatch.setattr(locks, "locking_study", lambda s, unit_id: None)
    assert len(served(anonymous, UNIT)) == len(locked_routes(UNIT))


def test_only_the_owner_closes_with_csrf(app: FastAPI, owner: Client, study: str) -> None:
    url = f"/api/studies/{study}/close"
    stranger = Client(app)
    r = stranger.post(url)
    assert r.status_code == 403 and "owner" in r.json()["detail"]
    assert Client(app, cookie=False).post(url, csrf=False).status_code == 403
    assert owner.post(url, csrf=False).status_code == 403  # no CSRF token
    assert owner.post(url, Origin="https://evil.example").status_code == 403
    assert served([stranger], UNIT) == []  # still locked after the refused closes
    assert owner.post("/api/studies/nope/close").status_code == 404
    first = owner.post(url)
    assert first.status_code == 200, first.text
    again = owner.post(url)
    assert again.status_code == 200 and again.json()["closed_at"] == first.json()["closed_at"]


def test_a_unit_held_by_two_open_studies_stays_locked_until_both_close(app: FastAPI, owner: Client) -> None:
    ids = []
    for name in ("first", "second"):
        r = owner.post("/api/studies", config([OTHER], name))
        assert r.status_code == 201, r.text
        ids.append(r.json()["study_id"])
    anonymous = [Client(app, cookie=False)]
    first = owner.post(f"/api/studies/{ids[0]}/close").json()
    assert first["unlocked_units"] == [] and served(anonymous, OTHER) == []
    assert owner.post(f"/api/studies/{ids[1]}/close").json()["unlocked_units"] == [OTHER]
    assert served(anonymous, OTHER)


def test_store_locks_are_one_query_and_follow_closing(db_url: str, owner: Client) -> None:
    r = owner.post("/api/studies", config([UNIT, OTHER], "store"))
    study_id = r.json()["study_id"]
    engine = make_engine(db_url)
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    with session_factory(engine)() as s:
        held = locks.locked_units(s)
        assert held[UNIT] == study_id and held[OTHER] == study_id
        assert len(statements) == 1
        assert locks.locking_study(s, UNIT) == study_id
        close_study(s, study_id)
        s.commit()
        assert locks.locking_study(s, UNIT) is None and UNIT not in locks.locked_units(s)
    engine.dispose()
