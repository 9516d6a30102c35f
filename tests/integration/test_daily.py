"""The daily unit: the same unit and rounds for everyone on a day (another on the next), drawn from the
held-out half, played once, stored as design "daily"; its share link and board show no truth of a round the
viewer has not answered (and a planted one is caught)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any

import pytest
import web_fixtures as fx
from fastapi import FastAPI
from leak_walker import Client, Secrets
from sqlalchemy import select

from mirrorneuron.game import training_mask
from mirrorneuron.gameplay.daily import DAILY_ROUNDS, daily_seed
from mirrorneuron.store import repo
from mirrorneuron.store.db import make_engine, session_factory
from mirrorneuron.web.routers.daily import utc_today
from mirrorneuron.web.schemas.sharing import GameTotal

web_home, isolated_home, db_url, app = fx.web_home, fx.isolated_home, fx.db_url, fx.app
DAY, NEXT_DAY = date(2026, 3, 14), date(2026, 3, 15)


@contextmanager
def on_day(app: FastAPI, day: date) -> Iterator[None]:
    app.dependency_overrides[utc_today] = lambda: day
    try:
        yield
    finally:
        app.dependency_overrides.pop(utc_today, None)


def start(c: Client) -> dict[str, Any]:
    r = c.client.post("/api/daily", headers={"X-CSRF-Token": c.csrf})
    assert r.status_code in (200, 201), r.text
    return dict(r.json())


def play(c: Client, game_id: str, value: float = 0.05) -> list[dict[str, Any]]:
    """Answer every round; returns the rounds as served (examples in order)."""
    served = []
    while not (nxt := c.client.get(f"/api/games/{game_id}/round").json())["done"]:
        rnd = nxt["round"]
        served.append(rnd)
        r = c.client.post(
            f"/api/rounds/{rnd['round_id']}/guess", json={"token": rnd["token"], "value": value}, headers={"X-CSRF-Token": c.csrf}
        )
        assert r.status_code == 200, r.text
    return served


def stored(db_url: str, game_id: str) -> tuple[repo.Game, list[repo.Round]]:
    engine = make_engine(db_url)
    with session_factory(engine)() as s:
        game = s.get(repo.Game, game_id)
        assert game is not None
        rounds = list(s.scalars(select(repo.Round).where(repo.Round.game_id == game_id).order_by(repo.Round.seq)))
        s.expunge_all()
    engine.dispose()
    return game, rounds


@pytest.fixture(scope="module")
def played(app: FastAPI) -> dict[str, Any]:
    """A and B finish the daily unit of DAY; C starts it and answers nothing."""
    a, b, c = (Client.player(n, app) for n in "ABC")
    with on_day(app, DAY):
        ga, gb = start(a), start(b)
        served = {"A": play(a, ga["game_id"], 0.05), "B": play(b, gb["game_id"], 0.4)}
        link = a.client.get(f"/api/games/{ga['game_id']}/share")
        assert link.status_code == 200, link.text
        b.client.get(f"/api/games/{gb['game_id']}")  # B's summary: the bots play B's rounds too
        gc = start(c)
    return {"clients": (a, b, c), "games": (ga, gb, gc), "served": served, "token": link.json()["token"]}


def test_everyone_gets_the_same_unit_and_rounds_on_a_day(app: FastAPI, db_url: str, played: dict[str, Any]) -> None:
    (ga, gb, gc), served = played["games"], played["served"]
    assert ga["unit_id"] == gb["unit_id"] == gc["unit_id"]
    assert len(served["A"]) == DAILY_ROUNDS
    assert [(r["example"], r["hints"]) for r in served["A"]] == [(r["example"], r["hints"]) for r in served["B"]]
    games = [stored(db_url, g["game_id"]) for g in (ga, gb, gc)]
    seed = daily_seed(app.state.mn.keys.digest("daily", DAY.isoformat()))
    for game, _ in games:
        assert (game.design, game.policy, game.seed, game.level) == ("daily", "daily:2026-03-14", seed, 1)
    indices = [[r.example_index for r in rounds] for _, rounds in games]
    assert indices[0] == indices[1] == indices[2]  # the same examples, in the same order
    ctx = app.state.mn.units.context(ga["unit_id"])
    training = training_mask(ctx.groups)
    assert not training[indices[0]].any()  # drawn from the held-out half: never a training example


def test_another_day_has_another_unit_or_rounds(app: FastAPI, db_url: str, played: dict[str, Any]) -> None:
    a = played["clients"][0]
    with on_day(app, NEXT_DAY):
        info = a.client.get("/api/daily").json()
        assert info["day"] == "2026-03-15" and info["your_game_id"] is None
        g = start(a)
    _, today = stored(db_url, played["games"][0]["game_id"])
    game, tomorrow = stored(db_url, g["game_id"])
    assert game.policy == "daily:2026-03-15"
    assert (g["unit_id"], [r.example_id for r in tomorrow]) != (played["games"][0]["unit_id"], [r.example_id for r in today])


def test_the_daily_is_played_once(app: FastAPI, db_url: str, played: dict[str, Any]) -> None:
    a = played["clients"][0]
    first = played["games"][0]["game_id"]
    with on_day(app, DAY):
        again = a.client.post("/api/daily", headers={"X-CSRF-Token": a.csrf})
        assert again.status_code == 200 and again.json()["game_id"] == first and again.json()["done"]
        form = a.client.post("/daily", data={"csrf_token": a.csrf}, follow_redirects=False)
        assert form.status_code == 303 and form.headers["location"] == f"/play/{first}"
        assert a.client.get(f"/api/games/{first}/round").json()["done"]  # nothing new to answer
        info = a.client.get("/api/daily").json()
        page = a.client.get("/daily").text
    assert info["your_game_id"] == first and info["your_done"]
    assert info["share_url"] == f"/share/{played['token']}" and played["token"] in page
    engine = make_engine(db_url)
    with session_factory(engine)() as s:
        n = s.scalars(select(repo.Game).where(repo.Game.player_id == a.id, repo.Game.policy == "daily:2026-03-14")).all()
    engine.dispose()
    assert len(n) == 1


def test_share_link_needs_a_finished_game_and_a_real_token(app: FastAPI, played: dict[str, Any]) -> None:
    a, _, c = played["clients"]
    gc = played["games"][2]["game_id"]
    r = c.client.get(f"/api/games/{gc}/share")
    assert r.status_code == 409 and "finish the game" in r.json()["detail"]
    assert a.client.get(f"/api/games/{gc}/share").status_code == 403  # another player's game
    forged = played["token"][:-2] + ("aa" if not played["token"].endswith("aa") else "bb")
    for url in (f"/api/share/{forged}", "/api/share/nonsense", f"/api/share/{gc}.x"):
        bad = a.client.get(url)
        assert bad.status_code == 404 and bad.json()["detail"] == "no such share link"


def pages(app: FastAPI, token: str, viewers: list[Client]) -> list[tuple[str, str, Any]]:
    """(who, url, body) of the share page, the daily page and their JSON twins, for each viewer."""
    out = []
    with on_day(app, DAY):
        for v in viewers:
            for url in (f"/share/{token}", f"/api/share/{token}", "/daily", "/api/daily"):
                r = v.send("GET", url)
                assert r.status_code == 200, (v.name, url, r.text)
                out.append((v.name, url, r.json() if url.startswith("/api/") else r.text))
    return out


def leaks(found: list[tuple[str, str, Any]], truths: list[float]) -> list[tuple[str, str, str]]:
    secrets = Secrets(truths)
    hits = []
    for who, url, body in found:
        printed = [raw for _, raw in secrets.json(body)] if isinstance(body, dict) else list(secrets.text(body))
        hits += [(who, url, raw) for raw in printed]
    return hits


def viewers(app: FastAPI, played: dict[str, Any]) -> list[Client]:
    c = played["clients"][2]
    return [Client("no cookie", c.client.__class__(app), anonymous=True), Client.player("D", app), c]


def test_share_page_and_daily_board_show_no_unanswered_truth(app: FastAPI, db_url: str, played: dict[str, Any]) -> None:
    """C has started the day's unit and answered nothing: C's truths (the same examples A and B answered) must
    not print on A's share page or the day's board, for C, a fresh player or no one."""
    _, c_rounds = stored(db_url, played["games"][2]["game_id"])
    truths = [r.actual for r in c_rounds]
    found = pages(app, played["token"], viewers(app, played))
    assert leaks(found, truths) == []
    by = {(who, url): body for who, url, body in found}
    shared = by[("D", f"/api/share/{played['token']}")]
    assert shared["others"]["n"] == 1 and {b["name"] for b in shared["bots"]} >= {"mean", "ridge"}  # not vacuous
    assert shared["player"]["rounds"] == DAILY_ROUNDS and shared["daily"] == "2026-03-14"
    assert [r["name"] for r in by[("D", "/api/daily")]["board"]] != []
    assert by[("C", f"/api/share/{played['token']}")]["withheld"]  # C's game on the unit is unfinished
    assert by[("C", "/api/daily")]["withheld"] and by[("C", "/api/daily")]["board"] == []
    html = by[("no cookie", f"/share/{played['token']}")]
    assert 'property="og:title"' in html and 'aria-label="Copy the share link"' in html


def test_the_guard_catches_a_planted_truth(app: FastAPI, db_url: str, played: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """Planted faults: the share page lists a round's truth among the bots' totals, and the daily board
    counts one unfinished round's truth as points. The same check as above must report both."""
    import mirrorneuron.web.services.daily as daily_service
    import mirrorneuron.web.services.share as share_service

    _, c_rounds = stored(db_url, played["games"][2]["game_id"])
    truth = c_rounds[3].actual
    honest_bots, honest_board = share_service.bot_totals, daily_service.daily_board
    monkeypatch.setattr(
        share_service, "bot_totals", lambda s, g: [*honest_bots(s, g), {"name": "r4", "rounds": 1, "points": truth, "mean_score": 0.0}]
    )
    leaked = {"game_id": "x", "player_id": "x", "name": "x", "rounds": 1, "points": truth, "mean_score": 1.0, "rank": 9}
    monkeypatch.setattr(daily_service, "daily_board", lambda s, p: [*honest_board(s, p), leaked])
    assert set(GameTotal.model_fields) <= set(leaked)
    hits = leaks(pages(app, played["token"], viewers(app, played)[:2]), [r.actual for r in c_rounds])
    assert {(who, url) for who, url, _ in hits} >= {
        ("no cookie", f"/api/share/{played['token']}"),
        ("D", f"/api/share/{played['token']}"),
        ("no cookie", "/api/daily"),
        ("D", "/api/daily"),
    }
