"""The web analysis pages and their JSON twins: global and per study (owner only), the report cached until a
new guess, units an open study locks left out of the global page, and no round's answer shown by any of them
(a planted leaky section is caught by the same check)."""

from __future__ import annotations

import asyncio
import base64
import re
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import web_fixtures as fx
from fastapi import FastAPI
from fastapi.testclient import TestClient
from leak_walker import Secrets, response_hits
from sqlalchemy import Engine, select, update

from mirrorneuron.analysis import report as rp
from mirrorneuron.analysis.sections import AnalysisData, Section
from mirrorneuron.analysis.simstore import StoredSimulation, write_simulation
from mirrorneuron.analysis.simulate import SimConfig, simulate
from mirrorneuron.store import repo
from mirrorneuron.store.db import make_engine, session_factory
from mirrorneuron.store.history import record_guesses
from mirrorneuron.store.models import Game, Round
from mirrorneuron.store.studies import close_study
from mirrorneuron.web.routers import analysis as analysis_router

web_home, isolated_home, db_url, app = fx.web_home, fx.isolated_home, fx.db_url, fx.app

CONFIG = SimConfig(n_players=50, n_units=15, games_per_player=3, seed=7)
STUDY_UNITS = 3  # the first units of the simulation belong to the study
SECRETS = [-0.8137, -0.9071, -0.7779]  # the actual values of a player's unanswered rounds (legit numbers are > -0.5)
ANSWERED = 0.3141


class Client:
    def __init__(self, app: FastAPI) -> None:
        self.http = TestClient(app)
        self.id = self.http.get("/api/players/me").json()["player_id"]

    def get(self, url: str) -> Any:
        return self.http.get(url, headers={"Accept": "text/html"} if not url.startswith("/api/") else {})


@pytest.fixture(scope="module")
def engine(app: FastAPI, db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def owner(app: FastAPI) -> Client:
    return Client(app)


@pytest.fixture(scope="module")
def other(app: FastAPI) -> Client:
    return Client(app)


@pytest.fixture(scope="module")
def world(engine: Engine, owner: Client, other: Client) -> dict[str, Any]:
    """The simulation, a study of the owner's over its first units, and a game of the other player's with one
    answered round and three unanswered ones."""
    sim = simulate(CONFIG)
    stored: StoredSimulation = write_simulation(engine, sim, tag="web")
    units = stored.unit_ids[:STUDY_UNITS]
    with session_factory(engine)() as s:
        config = repo.StudyConfig(name="analysis study", units=units, levels=[0], rounds_per_unit=10, practice_rounds=0)
        study = repo.create_study(s, config, owner.id).id
        s.execute(update(Game).where(Game.unit_id.in_(units)).values(study_id=study))
        actuals = [ANSWERED, *SECRETS]
        rounds = [
            {"seq": i, "example_id": f"{stored.model_id}-ex{i}", "example_index": i, "source": "random",
             "weight": 1.0, "scale": 2.0, "payload": {"simulated": True}, "actual": a}
            for i, a in enumerate(actuals)
        ]  # fmt: skip
        game = repo.create_game(s, other.id, stored.unit_ids[-1], level=1, feedback=True, seed=0, rounds=rounds)
        first = s.scalar(select(Round.id).where(Round.game_id == game.id, Round.seq == 0))
        assert first is not None
        record_guesses(s, other.id, [(first, 0.2, 4.0)])
        s.commit()
    in_study = np.isin(sim.unit, np.arange(STUDY_UNITS))
    return {"sim": sim, "stored": stored, "study": study, "units": units, "study_rounds": int(in_study.sum())}


def section(out: dict[str, Any], key: str) -> dict[str, Any]:
    return next(s for s in out["sections"] if s["key"] == key)


def sections_of(html: str) -> list[str]:
    return re.findall(r'<section class="report-section" id="([^"]+)">', html)


def test_the_page_and_its_json_twin_show_every_section(world: dict[str, Any], owner: Client) -> None:
    page, twin = owner.get("/analysis"), owner.get("/api/analysis")
    assert page.status_code == 200 and twin.status_code == 200
    out = twin.json()
    keys = [s["key"] for s in out["sections"]]
    assert sections_of(page.text) == keys and {"difficulty", "levels", "skill"} <= set(keys)
    assert all(section(out, k)["enough_data"] for k in ("difficulty", "levels", "skill"))
    for s in out["sections"]:
        assert f"<h2>{s['title']}</h2>" in page.text
        if s["figure"] is not None or s["key"] in ("difficulty", "levels", "skill"):
            assert f'<img class="figure" src="{s["figure"]}"' in page.text  # the same PNG, inline
            assert base64.b64decode(s["figure"].split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    assert '<a href="/analysis">Analysis</a>' in page.text and 'href="/api/analysis"' in page.text
    # the global page: every simulated round outside the open study's units, plus the other player's answer
    assert out["covers"]["rounds"] == world["sim"].n_rounds - world["study_rounds"] + 1
    assert out["covers"]["withheld_units"] == STUDY_UNITS
    assert out["covers"]["first_guess_at"] <= out["covers"]["last_guess_at"]


def test_study_analysis_is_for_its_owner_only(world: dict[str, Any], owner: Client, other: Client) -> None:
    study = world["study"]
    out = owner.get(f"/api/studies/{study}/analysis").json()
    assert out["title"] == f"study {study}" and out["covers"]["studies"] == [study]
    assert out["covers"]["rounds"] == world["study_rounds"]
    assert {r["unit_id"] for r in section(out, "difficulty")["tables"]["units"]} == set(world["units"])
    page = owner.get(f"/studies/{study}/analysis")
    assert page.status_code == 200 and sections_of(page.text) == [s["key"] for s in out["sections"]]
    for url in (f"/api/studies/{study}/analysis", f"/studies/{study}/analysis"):
        r = other.get(url)
        assert r.status_code == 403 and "owner" in r.text, url
        assert owner.get(url.replace(study, "no-such-study")).status_code == 404
    assert other.get(f"/api/studies/{study}/analysis").json() == {
        "detail": "only the study's owner sees its progress and results"
    }


URLS = ["/analysis", "/api/analysis", "/studies/{study}/analysis", "/api/studies/{study}/analysis"]


def hits(world: dict[str, Any], *clients: Client) -> list[str]:
    secrets = Secrets(SECRETS)
    found = []
    for c in clients:
        for url in URLS:
            r = c.get(url.format(study=world["study"]))
            found += [f"{url}: {where} {raw}" for where, raw in response_hits(r, secrets)[0]]
    return found


def test_no_unanswered_rounds_value_is_shown(world: dict[str, Any], owner: Client, other: Client) -> None:
    assert hits(world, owner, other) == []


def test_a_planted_leaky_section_is_caught(world: dict[str, Any], engine: Engine, owner: Client, app: FastAPI) -> None:
    def leaky(_: AnalysisData) -> Section:  # reads every round's value, answered or not
        with engine.connect() as c:
            values = [float(v) for v in c.scalars(select(Round.actual))]
        return Section("leaky", "Leaky", "all values", facts={"values": values})

    rp.SECTION_BUILDERS.append(leaky)
    where = f"$.sections[{len(rp.SECTION_BUILDERS) - 1}].facts.values"
    app.state.analysis_cache = None  # the cached reports were built without it
    try:
        found = hits(world, owner)
    finally:
        rp.SECTION_BUILDERS.remove(leaky)
        app.state.analysis_cache = None
    assert any(h.startswith(f"/api/analysis: {where}") for h in found), found
    assert any(h.startswith("/analysis: body") for h in found), found


def test_the_report_is_built_off_the_loop_and_cached_until_a_new_guess(
    world: dict[str, Any], engine: Engine, other: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    builds: list[str | None] = []
    real = analysis_router._build

    def counted(engine: Engine, study: str | None, exclude: frozenset[str]) -> Any:
        with pytest.raises(RuntimeError):  # built in a worker thread, off the event loop
            asyncio.get_running_loop()
        builds.append(study)
        return real(engine, study, exclude)

    monkeypatch.setattr(analysis_router, "_build", counted)
    first = other.get("/api/analysis").json()
    n = len(builds)  # 0 when an earlier test left it cached
    again = other.get("/api/analysis").json()
    assert again == first and len(builds) == n  # served from the cache
    with session_factory(engine)() as s:  # the other player answers one more round
        open_round = s.scalar(select(Round.id).where(Round.actual == SECRETS[0]))
        assert open_round is not None
        record_guesses(s, other.id, [(open_round, -0.5, 3.0)])
        s.commit()
    after = other.get("/api/analysis").json()
    assert builds == [*builds[:n], None]  # rebuilt once, for the global page
    assert after["covers"]["rounds"] == first["covers"]["rounds"] + 1


def test_closing_the_study_brings_its_units_into_the_global_page(
    world: dict[str, Any], engine: Engine, owner: Client
) -> None:
    def global_units() -> set[str]:
        return {r["unit_id"] for r in section(owner.get("/api/analysis").json(), "difficulty")["tables"]["units"]}

    assert not global_units() & set(world["units"])  # locked while the study is open
    with session_factory(engine)() as s:
        close_study(s, world["study"])
        s.commit()
    assert set(world["units"]) <= global_units()  # no new guess: the lock change alone rebuilds the report
