"""The per-level points board (all units, finished games, current points formula only), the per-unit board,
the daily board, and their JSON twins."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
import web_fixtures as fx
from fastapi import FastAPI
from leak_walker import Client
from sqlalchemy import select, update

from mirrorneuron.game.scoring import POINTS_VERSION
from mirrorneuron.store import repo
from mirrorneuron.store.db import make_engine, session_factory
from mirrorneuron.web.routers.daily import utc_today

web_home, isolated_home, db_url, app = fx.web_home, fx.isolated_home, fx.db_url, fx.app
UNITS = ("tiny-gelu/blocks.0.mlp.post/neuron/3", "tiny-gelu/blocks.1.mlp.post/neuron/7")


def new_game(c: Client, unit: str, level: int = 1, rounds: int = 4) -> str:
    r = c.client.post("/api/games", json={"unit": unit, "level": level, "rounds": rounds}, headers={"X-CSRF-Token": c.csrf})
    assert r.status_code == 201, r.text
    return str(r.json()["game_id"])


def play(c: Client, game_id: str, values: list[float]) -> None:
    for v in values:
        nxt = c.client.get(f"/api/games/{game_id}/round").json()
        if nxt["done"]:
            return
        rnd = nxt["round"]
        r = c.client.post(f"/api/rounds/{rnd['round_id']}/guess", json={"token": rnd["token"], "value": v}, headers={"X-CSRF-Token": c.csrf})
        assert r.status_code == 200, r.text


def points(c: Client, game_id: str) -> tuple[float, float, int]:
    """(points, sum of closeness, rounds) of a game, from its answered rounds."""
    results = c.client.get(f"/api/games/{game_id}").json()["results"]
    return sum(r["points"] for r in results), sum(r["score"] for r in results), len(results)


@pytest.fixture(scope="module")
def players(app: FastAPI) -> dict[str, Any]:
    """P and Q finish level-1 games on two units; R finishes nothing; Q also finishes a level-2 game."""
    p, q, r = (Client.player(n, app) for n in "PQR")
    games: dict[str, list[str]] = {"P": [], "Q": [], "R": []}
    for c, guesses in ((p, [0.3, 0.0, 0.5, 0.1]), (q, [2.0, -1.0, 1.5, 0.0])):
        for unit in UNITS:
            g = new_game(c, unit)
            play(c, g, guesses)
            games[c.name].append(g)
    g2 = new_game(q, UNITS[0], level=2, rounds=3)
    play(q, g2, [0.1, 0.1, 0.1])
    unfinished = new_game(r, UNITS[0], rounds=4)
    play(r, unfinished, [0.2, 0.2, 0.2])  # 3 of 4: not on the points boards
    return {"clients": {"P": p, "Q": q, "R": r}, "games": games, "level2": g2}


def expected(players: dict[str, Any]) -> dict[str, tuple[float, float, int]]:
    out = {}
    for name in ("P", "Q"):
        c = players["clients"][name]
        totals = [points(c, g) for g in players["games"][name]]
        out[c.id] = (sum(t[0] for t in totals), sum(t[1] for t in totals) / sum(t[2] for t in totals), sum(t[2] for t in totals))
    return out


def test_level_board_ranks_finished_games_by_points(app: FastAPI, players: dict[str, Any]) -> None:
    viewer = players["clients"]["R"]
    board = viewer.client.get("/api/leaderboard", params={"level": 1}).json()
    assert board["points_version"] == POINTS_VERSION and board["level"]["level"] == 1
    want = expected(players)
    got = {r["player_id"]: r for r in board["rows"]}
    assert set(got) == set(want)  # R's unfinished game does not count
    for pid, (pts, closeness, rounds) in want.items():
        row = got[pid]
        assert row["points"] == pytest.approx(pts) and row["mean_score"] == pytest.approx(closeness)
        assert (row["games"], row["rounds"]) == (2, rounds) and row["points_per_round"] == pytest.approx(pts / rounds)
    assert [r["player_id"] for r in board["rows"]] == sorted(want, key=lambda pid: -want[pid][0])
    assert [r["rank"] for r in board["rows"]] == [1, 2]
    level2 = viewer.client.get("/api/leaderboard", params={"level": 2}).json()["rows"]
    assert [r["player_id"] for r in level2] == [players["clients"]["Q"].id] and level2[0]["games"] == 1


def test_level_board_page_shows_the_formula_version_and_the_same_rows(app: FastAPI, players: dict[str, Any]) -> None:
    viewer = players["clients"]["P"]
    page = viewer.client.get("/leaderboard", params={"level": 1})
    assert page.status_code == 200 and f"<code>{POINTS_VERSION}</code>" in page.text
    rows = viewer.client.get("/api/leaderboard", params={"level": 1}).json()["rows"]
    for r in rows:
        assert r["name"] in page.text and f">{round(r['points'])}<" in page.text
    assert 'aria-current="page">level 1 · examples' in page.text
    assert viewer.client.get("/api/leaderboard", params={"level": 7}).status_code == 422


def test_points_of_another_formula_do_not_count(app: FastAPI, db_url: str, players: dict[str, Any]) -> None:
    p = players["clients"]["P"]
    game_id = players["games"]["P"][0]
    before = {r["player_id"]: r["points"] for r in p.client.get("/api/leaderboard", params={"level": 1}).json()["rows"]}
    engine = make_engine(db_url)
    with session_factory(engine)() as s:
        rnd = s.scalars(select(repo.Round).where(repo.Round.game_id == game_id).order_by(repo.Round.seq)).first()
        assert rnd is not None
        guess = s.scalars(select(repo.Guess).where(repo.Guess.round_id == rnd.id, repo.Guess.player_id == p.id)).one()
        old = guess.points or 0.0
        s.execute(update(repo.Guess).where(repo.Guess.id == guess.id).values(points_version="insight-0"))
        s.commit()
        try:
            after = {r["player_id"]: r["points"] for r in p.client.get("/api/leaderboard", params={"level": 1}).json()["rows"]}
        finally:
            s.execute(update(repo.Guess).where(repo.Guess.id == guess.id).values(points_version=POINTS_VERSION))
            s.commit()
    engine.dispose()
    assert after[p.id] == pytest.approx(before[p.id] - old)


def test_unit_board_links_the_points_boards(app: FastAPI, players: dict[str, Any]) -> None:
    p = players["clients"]["P"]
    board = p.client.get(f"/api/leaderboard/{UNITS[0]}", params={"level": 1}).json()
    assert {r["player_id"] for r in board["rows"]} >= {p.id, players["clients"]["Q"].id}
    rows = {r["player_id"]: r for r in board["rows"]}
    for name in "PQ":  # each played one level-1 game on UNITS[0]
        c = players["clients"][name]
        pts, _, n = points(c, players["games"][name][0])
        assert rows[c.id]["points_per_round"] == pytest.approx(pts / n)
    page = p.client.get(f"/leaderboard/{UNITS[0]}", params={"level": 1}).text
    assert 'href="/leaderboard?level=1"' in page and 'href="/daily"' in page
    assert "points / round" in page and f"{rows[p.id]['points_per_round']:.1f}" in page


def test_daily_board_ranks_the_days_finished_games(app: FastAPI, players: dict[str, Any]) -> None:
    day = date(2026, 5, 1)
    app.dependency_overrides[utc_today] = lambda: day
    try:
        p, q = players["clients"]["P"], players["clients"]["Q"]
        totals = {}
        for c, v in ((p, 0.0), (q, 0.8)):
            r = c.client.post("/api/daily", headers={"X-CSRF-Token": c.csrf})
            assert r.status_code == 201, r.text
            game_id = r.json()["game_id"]
            play(c, game_id, [v] * r.json()["n_rounds"])
            totals[c.id] = points(c, game_id)
        viewer = Client.player("S", app)
        daily = viewer.client.get("/api/daily").json()
        page = viewer.client.get("/daily").text
    finally:
        app.dependency_overrides.pop(utc_today, None)
    assert daily["points_version"] == POINTS_VERSION and not daily["withheld"]
    rows = daily["board"]
    assert [r["player_id"] for r in rows] == sorted(totals, key=lambda pid: (-totals[pid][0], -totals[pid][1]))
    for r in rows:
        pts, closeness, n = totals[r["player_id"]]
        assert r["points"] == pytest.approx(pts) and r["mean_score"] == pytest.approx(closeness / n) and r["rounds"] == n
        assert r["name"] in page


def test_level_board_leaves_out_units_an_open_study_locks(app: FastAPI, players: dict[str, Any]) -> None:
    owner = Client.player("owner", app)

    def games() -> dict[str, int]:
        return {r["player_id"]: r["games"] for r in owner.client.get("/api/leaderboard", params={"level": 1}).json()["rows"]}

    before = games()
    config = {"name": "lock", "units": [UNITS[1]], "levels": [1], "rounds_per_unit": 2, "practice_rounds": 0}
    r = owner.client.post("/api/studies", json=config, headers={"X-CSRF-Token": owner.csrf})
    assert r.status_code == 201, r.text
    study = r.json()["study_id"]
    try:
        locked = games()
    finally:
        closed = owner.client.post(f"/api/studies/{study}/close", headers={"X-CSRF-Token": owner.csrf})
        assert closed.status_code == 200, closed.text
    p, q = players["clients"]["P"].id, players["clients"]["Q"].id
    assert locked == {p: before[p] - 1, q: before[q] - 1}  # each played one game on the locked unit
    assert games() == before
