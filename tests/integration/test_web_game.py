"""The web game through the in-process client: pages and their JSON twins, a full game, OpenAPI, errors."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import web_fixtures as fx
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mirrorneuron.game import training_mask
from mirrorneuron.models.loader import zoo_adapter
from mirrorneuron.units import ensure_harvest
from mirrorneuron.units.directions import add_direction

web_home, isolated_home, db_url, app = fx.web_home, fx.isolated_home, fx.db_url, fx.app

TEXT_UNIT = "tiny-gelu/blocks.0.mlp.post/neuron/3"
IMAGE_UNIT = "digits-mlp/layers.1.post/neuron/5"


class Player:
    """A browser-like client with its own cookie jar (so its own anonymous player)."""

    def __init__(self, app: FastAPI) -> None:
        self.client = TestClient(app)
        me = self.client.get("/api/players/me").json()
        self.id, self.csrf = me["player_id"], me["csrf_token"]

    def get(self, url: str, **kw: Any) -> Any:
        return self.client.get(url, **kw)

    def post(self, url: str, json: Any = None, **kw: Any) -> Any:
        headers = {"X-CSRF-Token": self.csrf, **kw.pop("headers", {})}
        return self.client.post(url, json=json, headers=headers, **kw)

    def new_game(self, **spec: Any) -> dict[str, Any]:
        r = self.post("/api/games", {"rounds": 4, **spec})
        assert r.status_code == 201, r.text
        return dict(r.json())

    def play(self, game_id: str, value: float = 0.1) -> list[dict[str, Any]]:
        out = []
        while True:
            nxt = self.get(f"/api/games/{game_id}/round").json()
            if nxt["done"]:
                return out
            rnd = nxt["round"]
            r = self.post(f"/api/rounds/{rnd['round_id']}/guess", {"token": rnd["token"], "value": value})
            assert r.status_code == 200, r.text
            out.append(r.json())


@pytest.fixture(scope="module")
def alice(app: FastAPI) -> Player:
    return Player(app)


def test_home_page_and_twin(alice: Player) -> None:
    page = alice.get("/")
    assert page.status_code == 200 and "Imitate a neuron" in page.text
    assert re.search(r'name="csrf_token" value="[0-9a-f]{32}"', page.text)
    home = alice.get("/api/home").json()
    names = [m["name"] for m in home["models"]]
    assert "tiny-gelu" in names and "digits-mlp" in names
    assert [lv["level"] for lv in home["levels"]] == [0, 1, 2, 3]
    assert all(lv["description"] for lv in home["levels"])
    models = alice.get("/api/models").json()
    assert any(not m["trained"] for m in models)  # the zoo lists untrained models too


def test_form_starts_a_game_and_play_page_renders(alice: Player) -> None:
    r = alice.client.post(
        "/play",
        data={
            "csrf_token": alice.csrf,
            "model": "tiny-gelu",
            "unit": "blocks.0.mlp.post/3",
            "level": "1",
            "rounds": "3",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"].startswith("/play/")
    page = alice.get(r.headers["location"])
    assert page.status_code == 200 and TEXT_UNIT in page.text and 'id="game-data"' in page.text


@pytest.mark.parametrize("level", [0, 1, 2, 3])
def test_full_text_game_through_the_api(alice: Player, level: int) -> None:
    game = alice.new_game(unit=TEXT_UNIT, level=level, seed=7)
    assert game["n_rounds"] == 4 and game["n_answered"] == 0 and game["summary"] is None
    first = alice.get(f"/api/games/{game['game_id']}/round").json()["round"]
    hints = first["hints"]
    assert first["example"]["kind"] == "text" and first["level"] == level
    assert ("references" in hints and hints["references"] is not None) == (level >= 1)
    assert (hints.get("neighbours") is not None) == (level >= 2)
    assert (hints.get("contributions") is not None) == (level >= 3)
    reveals = alice.play(game["game_id"], 0.05)
    assert [r["seq"] for r in reveals] == [0, 1, 2, 3] and reveals[-1]["done"]
    mean, scale, multiplier = hints["stats"]["mean"], first["scale"], {0: 2.0, 1: 1.5, 2: 1.2, 3: 1.0}[level]
    for r in reveals:  # closeness score beside insight points (beyond the unit mean, × level)
        a = r["actual"]
        assert r["feedback"] and r["score"] == pytest.approx(100 * max(0.0, 1 - abs(0.05 - a) / scale))
        assert r["points"] == pytest.approx(100 * max(0.0, abs(mean - a) - abs(0.05 - a)) / scale * multiplier)
        assert r["max_points"] == pytest.approx(100 * abs(mean - a) / scale * multiplier)
    rv = alice.get(f"/api/rounds/{reveals[0]['round_id']}/reveal").json()
    assert (rv["score"], rv["points"], rv["max_points"]) == pytest.approx(
        (reveals[0]["score"], reveals[0]["points"], reveals[0]["max_points"])
    )
    view = alice.get(f"/api/games/{game['game_id']}").json()
    assert view["done"] and view["n_answered"] == 4
    assert [x["points"] for x in view["results"]] == pytest.approx([r["points"] for r in reveals])
    assert [x["max_points"] for x in view["results"]] == pytest.approx([r["max_points"] for r in reveals])
    summary = view["summary"]
    assert summary["you"]["n"] == 4 and len(summary["you"]["curve"]) == 4
    assert summary["you"]["points"] == pytest.approx(sum(r["points"] for r in reveals))
    assert summary["you"]["max_points"] == pytest.approx(sum(r["max_points"] for r in reveals))
    mean_bot = next(b for b in summary["bots"] if b["name"] == "mean")
    assert mean_bot["points"] == pytest.approx(0.0, abs=1e-9) and mean_bot["max_points"] > 0
    assert {p["points_version"] for p in [summary["you"], *summary["bots"]]} == {"insight-1"}
    assert {b["name"] for b in summary["bots"]} == {"mean", "unigram", "knn", "ridge"}
    assert all(b["n"] == 4 for b in summary["bots"])
    assert alice.get(f"/api/games/{game['game_id']}/summary").json() == summary
    reveal = alice.get(f"/api/rounds/{reveals[0]['round_id']}/reveal").json()
    window = reveal["window"]
    assert reveal["actual"] == reveals[0]["actual"]
    assert len(window["tokens"]) == len(window["activations"]) and 0 <= window["target"] < len(window["tokens"])
    assert window["activations"][window["target"]] == pytest.approx(reveal["actual"], abs=1e-6)


def test_image_game_and_surprise_unit(alice: Player) -> None:
    game = alice.new_game(unit=IMAGE_UNIT, level=2)
    rnd = alice.get(f"/api/games/{game['game_id']}/round").json()["round"]
    assert rnd["example"]["kind"] == "image" and len(rnd["example"]["pixels"]) == 8
    reveals = alice.play(game["game_id"])
    assert alice.get(f"/api/rounds/{reveals[0]['round_id']}/reveal").json()["window"] is None
    surprise = alice.new_game(model="digits-mlp", level=0)
    assert surprise["unit_id"].startswith("digits-mlp/") and surprise["modality"] == "image"


def test_summary_before_the_end_is_409(alice: Player) -> None:
    game = alice.new_game(unit=TEXT_UNIT, level=0)
    r = alice.get(f"/api/games/{game['game_id']}/summary")
    assert r.status_code == 409 and "not finished" in r.json()["detail"]


def test_unit_page_and_twin(app: FastAPI) -> None:
    carol = Player(app)  # alice has unfinished games on the unit: she would see no examples (see security tests)
    data = carol.get(f"/api/units/{TEXT_UNIT}").json()
    assert data["unit_id"] == TEXT_UNIT and data["kind"] == "neuron" and data["key"] == "3"
    assert sum(data["histogram"]["counts"]) == data["n_examples"]
    assert len(data["histogram"]["edges"]) == len(data["histogram"]["counts"]) + 1
    assert len(data["top"]) == 12 and data["top"][0]["value"] >= data["top"][-1]["value"]
    assert len(data["bins"]) == 10 and all(b["examples"] for b in data["bins"])
    assert {b["name"] for b in data["bots"]} == {"mean", "unigram", "knn", "ridge"}
    assert any(p["level"] == 2 and p["guesses"] >= 4 for p in data["players"])  # from the games above
    # the served examples are the harvest cache's: values, order, and the target token of each example
    adapter, (site, index) = zoo_adapter("tiny-gelu"), ("blocks.0.mlp.post", 3)
    h = ensure_harvest(adapter)  # the default harvest on disk that the app reads
    cached = h.unit_values(site, index)
    shown = np.flatnonzero(training_mask(np.repeat(np.arange(h.n_windows), h.positions)))  # never-asked windows
    assert [e["index"] for e in data["top"]] == shown[np.argsort(-cached[shown], kind="stable")[:12]].tolist()
    for e in data["top"] + [e for b in data["bins"] for e in b["examples"]]:
        assert e["value"] == pytest.approx(float(cached[e["index"]]), abs=1e-6)
        w, p = h.example_location(e["index"])
        ex = e["example"]
        assert ex["tokens"][ex["target"]] == adapter.tokens(h.inputs[w, p : p + 1])[0]
    # … and the cache agrees with a fresh forward pass on the top examples' windows (fp16 cache)
    for e in data["top"][:4]:
        w, p = h.example_location(e["index"])
        fresh = adapter.activations(h.inputs[w : w + 1], site)[0, p, index]
        assert e["value"] == pytest.approx(float(fresh), rel=1e-2, abs=1e-3)
    page = carol.get(f"/units/{TEXT_UNIT}")
    assert page.status_code == 200 and "Histogram" in page.text and "Top examples" in page.text
    assert carol.get("/api/units/tiny-gelu/blocks.0.mlp.post/neuron/99999").status_code == 404
    assert carol.get("/api/units/not-a-unit").status_code == 404


def test_custom_text(alice: Player) -> None:
    """Served values equal an independent forward pass on the same tokens: a neuron's column of the site, and
    for a read-out (a direction) the read-out applied to the site's activations."""
    text = "It is a truth universally acknowledged"
    adapter = zoo_adapter("tiny-gelu")
    ids = adapter.encode(text)
    unit = "tiny-gelu/blocks.1.mlp.post/neuron/3"  # no game of alice's is open on it
    r = alice.get("/api/custom", params={"unit": unit, "text": text})
    data = r.json()
    assert r.status_code == 200 and data["tokens"] == adapter.tokens(ids) and len(ids) > 3
    fresh = adapter.activations(ids[None], "blocks.1.mlp.post")[0][:, 3]
    np.testing.assert_allclose(data["activations"], fresh, rtol=1e-5, atol=1e-6)
    assert data["max_abs"] == pytest.approx(float(np.abs(fresh).max()), rel=1e-5)
    assert alice.get("/custom").status_code == 200
    bad = alice.get("/api/custom", params={"unit": IMAGE_UNIT, "text": "hello"})
    assert bad.status_code == 400 and "text model" in bad.json()["detail"]


def test_custom_text_of_a_readout(alice: Player, web_home: Path) -> None:
    text = "It is a truth universally acknowledged, that a single man"
    site, v = "blocks.1.resid.post", np.random.default_rng(4).normal(size=64)
    np.save(web_home / "v.npy", v)
    add_direction("tiny-gelu", site, "webdir", file=web_home / "v.npy")
    r = alice.get("/api/custom", params={"unit": f"tiny-gelu/{site}/direction/webdir", "text": text})
    assert r.status_code == 200, r.text
    adapter = zoo_adapter("tiny-gelu")
    ids = adapter.encode(text)
    want = adapter.activations(ids[None], site)[0].astype(np.float64) @ v
    assert r.json()["tokens"] == adapter.tokens(ids)
    np.testing.assert_allclose(r.json()["activations"], want, rtol=1e-5, atol=1e-5)


def test_leaderboard_history_and_display_name(app: FastAPI, alice: Player) -> None:
    r = alice.post("/api/players/me/name", {"name": "Alice"})
    assert r.status_code == 200 and r.json()["display_name"] == "Alice"
    bob = Player(app)
    board = bob.get(f"/api/leaderboard/{TEXT_UNIT}", params={"level": 1}).json()
    assert board["rows"] and board["rows"][0]["name"] == "Alice" and not board["withheld"]
    assert "Alice" in bob.get(f"/leaderboard/{TEXT_UNIT}?level=1").text
    assert alice.get(f"/api/leaderboard/{TEXT_UNIT}").json()["withheld"]  # she has a game open on it
    hist = alice.get(f"/api/players/{alice.id}").json()
    assert hist["is_you"] and hist["name"] == "Alice" and len(hist["games"]) >= 6
    seen = bob.get(f"/api/players/{alice.id}").json()
    assert not seen["is_you"] and seen["name"] == "Alice"
    assert bob.get(f"/players/{alice.id}").status_code == 200
    assert bob.post("/api/players/me/name", {"name": "\x07bell"}).status_code == 422
    assert bob.get("/api/players/nobody").status_code == 404


def test_validation_errors_are_clear_422(alice: Player) -> None:
    r = alice.post("/api/games", {"level": 7})
    assert r.status_code == 422
    body = r.json()
    assert body["detail"].startswith("level: ") and body["errors"][0]["loc"] == ["body", "level"]
    r = alice.post("/api/games", {"rounds": 3, "colour": "red"})
    assert r.status_code == 422 and "colour" in r.json()["detail"]
    r = alice.post("/api/games", {"unit": "tiny-gelu/blocks.9.mlp.post/neuron/1"})
    assert r.status_code == 422 and "blocks.9" in r.json()["detail"]
    r = alice.post("/api/games", {"model": "nope"})
    assert r.status_code == 422 and "unknown model" in r.json()["detail"]
    r = alice.get(f"/api/leaderboard/{TEXT_UNIT}", params={"level": "x"})
    assert r.status_code == 422 and "level" in r.json()["detail"]


def test_openapi_is_complete_and_strict(alice: Player) -> None:
    spec = alice.get("/api/openapi.json").json()
    paths = spec["paths"]
    for path in (
        "/api/games",
        "/api/games/{game_id}/round",
        "/api/rounds/{round_id}/guess",
        "/api/studies",
        "/api/units/{unit_id}",
        "/api/custom",
        "/api/leaderboard/{unit_id}",
        "/api/players/me",
        "/api/health",
    ):
        assert path in paths, path

    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict):
            assert node.get("additionalProperties") is not True, where
            if node.get("type") == "object" and "properties" in node:
                assert node.get("additionalProperties") is False, where
            for k, v in node.items():
                walk(v, f"{where}/{k}")
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, f"{where}/{i}")

    walk(spec["components"]["schemas"], "components")
    refs = set(re.findall(r'"\$ref": "#/components/schemas/([^"]+)"', json.dumps(spec)))
    assert refs <= set(spec["components"]["schemas"]), refs - set(spec["components"]["schemas"])
    assert '"#/$defs' not in json.dumps(spec)
    walk(paths, "paths")
    guess = paths["/api/rounds/{round_id}/guess"]["post"]["responses"]
    assert {"200", "403", "404", "409", "422", "429"} <= set(guess)


def test_internal_errors_serve_no_traceback(app: FastAPI) -> None:
    def boom() -> None:
        raise RuntimeError("secret internals /etc/passwd")

    app.add_api_route("/api/test-boom", boom)
    r = TestClient(app, raise_server_exceptions=False).get("/api/test-boom")
    assert r.status_code == 500 and r.json() == {"detail": "internal error"}
    assert "Traceback" not in r.text and "secret" not in r.text


def test_health_is_bare(app: FastAPI) -> None:
    r = TestClient(app).get("/api/health")
    assert r.json() == {"status": "ok"} and "set-cookie" not in r.headers


def test_static_files_are_served(alice: Player) -> None:
    for name in ("play.js", "charts.js", "custom.js", "style.css", "favicon.svg"):
        assert alice.get(f"/static/{name}").status_code == 200
