"""No answer leaks by any route: play studies (levels 0–3, feedback on and off) and, before every guess, walk
every route of the app as no one, as another player and as the player, looking for the unanswered rounds'
true values (at display precision); and prove the walker finds a value planted in a JSON field or a page.

The unit is a direction with a large norm at the residual stream: its values are continuous and spread over
thousands, so a legitimate number (a reference, a neighbour, a statistic) printing like a truth to 0.001 has
negligible odds. Everything is seeded, so the walk is the same on every run.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import web_fixtures as fx
from fastapi import FastAPI
from fastapi.testclient import TestClient
from leak_walker import Client, Create, Secrets, WalkResult, assert_no_leak, routes, walk
from sqlalchemy import select
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mirrorneuron.game import SamplingPlan, draw_examples
from mirrorneuron.store import repo
from mirrorneuron.store.db import make_engine, session_factory
from mirrorneuron.units.base import CONTEXT_AFTER, CONTEXT_BEFORE
from mirrorneuron.units.directions import add_direction
from mirrorneuron.web.services.share import share_token

web_home, isolated_home, db_url, app = fx.web_home, fx.isolated_home, fx.db_url, fx.app

MODEL, SITE, NAME = "tiny-gelu", "blocks.1.resid.post", "leakdir"
UNIT = f"{MODEL}/{SITE}/direction/{NAME}"
ROUNDS = 2
SAMPLING = {"top": 0.5, "bins": 0.5, "random": 0.0}
SEEDS = {True: 93, False: 37}  # fixed study seeds: the walk is repeatable
WINDOW_SEED = 238  # the first seed whose within-player draw shares a window under the old draw (shares_a_window)
TEXT = "It is a truth universally acknowledged"
SKIP_POSTS: dict[str, str] = {
    "/api/rounds/{round_id}/guess": "answers a round: the test guesses itself, after each walk",
    "/api/players/me/name": "changes a display name (no values)",
    "/players/me/name": "changes a display name (no values)",
    "/api/studies/{study_id}/close": "the owner's action: would end the lock the walk checks",
    "/play": "the home form runs POST /api/games's start_game, but with a random seed (the walk must be repeatable)",
    "/api/daily": "starts the daily game: another unit (its leak walk is in test_daily.py)",
    "/daily": "starts the daily game: another unit (its leak walk is in test_daily.py)",
    "/api/tutorial": "a tutorial game: start_game on the tutorial unit (a neuron, not the walked unit), random seed",
    "/api/tutorial/skip": "marks the tutorial done (no values)",
    "/api/modules/{model}/campaign/start": "start_game on the campaign's suggested neuron (not the walked unit), random seed",
    "/tutorial/skip": "marks the tutorial done (no values)",
    "/api/tutorial/finish": "ends a finished tutorial game (its truths are all answered)",
    "/api/units/{unit_id}/explanations": "needs an LLM backend (none in the walk: 503); it scores only answered "
    "rounds of feedback games, and its GET lists aggregate metrics (test_explain_api.py)",
}

SKIP_POSTS_ROUTES = [("POST", p) for p in SKIP_POSTS]


def study_config(feedback: bool, seed: int = 3) -> dict[str, Any]:
    return {
        "name": f"leak walk, feedback {'on' if feedback else 'off'}",
        "units": [UNIT],
        "levels": [0, 1, 2, 3],
        "rounds_per_unit": ROUNDS,
        "feedback": feedback,
        "practice_rounds": 0,
        "sampling": SAMPLING,
        "seed": seed,
        "design": "within",  # one player meets every level of the unit: the hardest case for cross-level leaks
    }


def creates() -> dict[str, Create]:
    """What a player can create, as the walker sends it: a game on the unit at every level, a
    copycat study (JSON and the form), joining the study (JSON and the form)."""
    games = [{"unit": UNIT, "level": lv, "rounds": ROUNDS, "seed": 0} for lv in range(4)]
    study = {**study_config(True), "name": "a copycat study"}
    return {
        "/api/games": Create(games),
        "/api/studies": Create([study]),
        "/studies": Create([{"config": json.dumps(study)}], form=True),
        "/api/s/{study_id}": Create(),
        "/s/{study_id}": Create(form=True),
        "/api/units/{unit_id}/imitation/preview": Create([{"source": "pos"}]),  # rule editor (build-out)
        "/api/units/{unit_id}/imitations": Create([{"source": "pos"}]),
    }


@pytest.fixture(scope="module")
def direction(web_home: Path) -> str:
    v = np.random.default_rng(0).standard_normal(64) * 400.0  # values spread over thousands
    path = web_home / "leakdir.npy"
    np.save(path, v)
    add_direction(MODEL, SITE, NAME, file=path)
    return UNIT


def truths(db_url: str, game_ids: list[str]) -> dict[str, tuple[str, float]]:
    """round id → (game id, true value), read straight from the store."""
    engine = make_engine(db_url)
    with session_factory(engine)() as s:
        rows = s.scalars(select(repo.Round).where(repo.Round.game_id.in_(game_ids))).all()
        out = {r.id: (r.game_id, r.actual) for r in rows}
    engine.dispose()
    return out


class Study:
    def __init__(self, owner: Client, feedback: bool, seed: int = 3) -> None:
        config = study_config(feedback, seed)
        r = owner.client.post("/api/studies", json=config, headers={"X-CSRF-Token": owner.csrf})
        assert r.status_code == 201, r.text
        self.id: str = r.json()["study_id"]

    def join(self, c: Client) -> list[str]:
        r = c.client.post(f"/api/s/{self.id}", headers={"X-CSRF-Token": c.csrf})
        assert r.status_code == 200, r.text
        return [g["game_id"] for g in r.json()["games"]]


def play_and_walk(app: FastAPI, db_url: str, feedback: bool) -> Iterator[WalkResult]:
    """Player A plays a whole study; before each guess the walker runs as no one, as B and as A, looking for
    the truth of every round A has not answered yet (in any of the study's games). The first walk also
    creates what a player can create (a game on the unit, a copycat study, joining), as each client."""
    owner, a, b = Client.player("owner", app), Client.player("A", app), Client.player("B", app)
    anonymous = Client("no cookie", TestClient(app), anonymous=True)
    study = Study(owner, feedback, SEEDS[feedback])
    games, b_games = study.join(a), study.join(b)
    secret = truths(db_url, games)
    answered: set[str] = set()
    players = [c.id for c in (owner, a, b)]
    first = True
    for game_id in games:
        level = a.client.get(f"/api/games/{game_id}").json()["level"]["level"]
        while not (nxt := a.client.get(f"/api/games/{game_id}/round").json())["done"]:
            rnd = nxt["round"]
            ids = {
                "game_id": [*games, b_games[0]],  # a player may open any of their games at any time
                "round_id": [rid for rid, (g, _) in secret.items() if rid in answered or g == game_id],
                "unit_id": [UNIT],
                "model": [MODEL],  # the module view and campaign (build-out)
                "study_id": [study.id],
                "player_id": players,
                "token": [share_token(app.state.mn.keys, g) for g in games],  # share links of A's games
            }
            yield walk(
                app,
                [anonymous, b, a],
                [v for rid, (_, v) in secret.items() if rid not in answered],
                ids,
                query={
                    "unit": [UNIT],
                    "text": [TEXT],
                    "level": [level],
                    "trained": [True],
                    "site": ["blocks.0.mlp.post"],
                },
                creates=creates() if first else {},
                skip_posts={**SKIP_POSTS, **({} if first else dict.fromkeys(creates(), "done in the first walk"))},
                page_query={"unit": UNIT, "text": TEXT},
            )
            first = False
            r = a.client.post(
                f"/api/rounds/{rnd['round_id']}/guess",
                json={"token": rnd["token"], "value": 0.0},
                headers={"X-CSRF-Token": a.csrf},
            )
            assert r.status_code == 200, r.text
            answered.add(rnd["round_id"])
    assert answered == set(secret)


@pytest.mark.parametrize("feedback", [True, False], ids=["feedback-on", "feedback-off"])
def test_no_route_serves_an_unanswered_rounds_truth(app: FastAPI, db_url: str, direction: str, feedback: bool) -> None:
    n, leaks = 0, []
    for n, result in enumerate(play_and_walk(app, db_url, feedback), start=1):
        if n == 1:  # the first walk reached every route (and created what a player can create)
            every = {(r.method, r.path) for r in routes(app, app.openapi())}
            assert every - result.routes == set(SKIP_POSTS_ROUTES)
        assert result.unscanned == []  # every body was searched (JSON, HTML, CSV, Parquet)
        try:
            assert_no_leak(result, f"walk {n} (before guess {n})")
        except AssertionError as e:
            leaks.append(str(e))
    assert n == 4 * ROUNDS
    assert not leaks, "\n".join(leaks)


def shares_a_window(app: FastAPI, seed: int) -> bool:
    """Whether the study's items (one within-player draw, played in order) hold a round whose value an earlier
    round's reveal shades: the same window, inside the visible span after the earlier target."""
    ctx = app.state.mn.units.context(UNIT)
    items = draw_examples(ctx, 4 * ROUNDS, SamplingPlan.from_mix(SAMPLING, seed)).draws
    where = [ctx.harvest.example_location(d.index) for d in items]
    return any(
        w1 == w2 and -CONTEXT_BEFORE <= p2 - p1 <= CONTEXT_AFTER
        for k, (w1, p1) in enumerate(where)
        for w2, p2 in where[k + 1 :]
    )


def test_the_walk_catches_rounds_drawn_without_the_window_rule(
    app: FastAPI, db_url: str, direction: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The planted fault is the old draw (several rounds may share a window): a reveal's shaded window then
    shows a later round's truth, and the walk must report it."""
    import mirrorneuron.game.rounds as rounds_module

    honest = rounds_module.draw

    def old_draw(values, plan, n, rng, exclude_mask=None, groups=None, runs=None, held_out=None):  # type: ignore[no-untyped-def]
        return honest(values, plan, n, rng, exclude_mask)  # groups and runs (the window rule) dropped, however passed

    monkeypatch.setattr(rounds_module, "draw", old_draw)
    # the known first such seed is tried first (the search costs ≈ 4 s); it is checked like any other, and if
    # the draws change so that it no longer shares a window, the search runs as before
    seed = next(s for s in (WINDOW_SEED, *range(1000)) if shares_a_window(app, s))
    monkeypatch.setitem(SEEDS, True, seed)
    for n, result in enumerate(play_and_walk(app, db_url, True), start=1):
        try:
            assert_no_leak(result, f"walk {n}")
        except AssertionError as e:
            assert "window" in str(e) or "reveal" in str(e), str(e)
            return
    pytest.fail("the walk did not catch the shaded window of an earlier reveal")


class Plant:
    """Test-only ASGI wrapper: writes ``value`` into one JSON answer (as a full float) and one HTML page (as the
    templates print a value, 2 decimals), the planted leaks the walker must find."""

    def __init__(self, app: ASGIApp, value: float, json_path: str = "/api/home", html_path: str = "/studies/new"):
        self.app, self.value, self.json_path, self.html_path = app, value, json_path, html_path

    def inject(self, path: str, body: bytes) -> bytes:
        if path == self.json_path:
            return json.dumps({**json.loads(body), "planted": self.value}).encode()
        return body.replace(b"</body>", f"<p>{self.value:+.2f}</p></body>".encode())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in (self.json_path, self.html_path):
            await self.app(scope, receive, send)
            return
        start: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
                return
            if message["type"] != "http.response.body":  # e.g. the test client's template debug message
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body"):
                return
            body = self.inject(scope["path"], b"".join(chunks))
            headers = [(k, v) for k, v in start["headers"] if k.lower() != b"content-length"]
            await send({**start, "headers": [*headers, (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, capture)


def test_the_walker_finds_a_planted_truth_in_json_and_html(app: FastAPI, db_url: str, direction: str) -> None:
    owner = Client.player("owner", app)
    study = Study(owner, feedback=True)
    joined = Client.player("A", app)
    games = study.join(joined)
    truth = next(iter(truths(db_url, games[:1]).values()))[1]

    def run(target: Any) -> WalkResult:
        a = Client("A", TestClient(target, cookies=joined.client.cookies), csrf=joined.csrf, id=joined.id)
        clients = [Client("no cookie", TestClient(target), anonymous=True), Client.player("B", target), a]
        rounds = list(truths(db_url, games[:1]))
        ids = {
            "game_id": games[:1],
            "round_id": rounds,
            "unit_id": [UNIT],
            "study_id": [study.id],
            "player_id": [a.id],
            "model": [MODEL],
        }
        ids["token"] = [share_token(app.state.mn.keys, games[0])]
        skip = {**SKIP_POSTS, **dict.fromkeys(creates(), "not needed here")}
        return walk(app, clients, [truth], ids, {"unit": [UNIT], "text": [TEXT]}, {}, skip)

    clean = run(app)
    assert clean.hits == [], clean.hits  # the control: nothing shows the truth before the first guess
    planted = run(Plant(app, truth))
    found = {(h.url.split("?")[0], h.where) for h in planted.hits}
    assert found == {("/api/home", "$.planted"), ("/studies/new", "body")}
    assert {h.who for h in planted.hits} == {"no cookie", "B", "A"}


def test_matching_rule_is_the_displayed_precision() -> None:
    s = Secrets([1234.5678, -2.22576])
    assert s.number(1234.5681) and s.number(-2.2261) and not s.number(1234.5691) and not s.number(2.2258)
    assert list(s.text("a 1234.57 b 1234.568 c 1234.5678 d 1234.6 e 1235")) == ["1234.57", "1234.568", "1234.5678"]
    assert list(s.text("range-2.226, x−2.23, 2.226, blocks.1.resid, id 1e3")) == ["-2.226", "-2.23"]
    body = {"a": [{"b": 1234.568}], "c": "w=-2.23", "d": True, "e": 1234}
    assert list(s.json(body)) == [("$.a[0].b", "1234.568"), ("$.c", "-2.23")]


def test_the_walker_refuses_routes_it_cannot_cover() -> None:
    """A new POST route nobody classified, or a path parameter without ids, stops the walk (no silent skip)."""
    tiny = FastAPI()
    tiny.add_api_route("/api/things", lambda: {}, methods=["POST"])
    tiny.add_api_route("/api/things/{thing_id}", lambda thing_id: {"value": 1234.568})
    c = [Client("no cookie", TestClient(tiny), anonymous=True)]
    with pytest.raises(AssertionError, match="POST routes the walker does not know"):
        walk(tiny, c, [1234.5678], {}, {}, {}, {})
    with pytest.raises(AssertionError, match="no ids known for"):
        walk(tiny, c, [1234.5678], {}, {}, {}, {"/api/things": "test"})
    found = walk(tiny, c, [1234.5678], {"thing_id": ["a"]}, {}, {}, {"/api/things": "test"})
    assert [(h.url, h.where) for h in found.hits] == [("/api/things/a", "$.value")]
