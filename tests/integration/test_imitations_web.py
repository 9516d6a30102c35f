"""The rule editor over the API: preview on reference examples only, inline errors, save with held-out scores,
versions, the page, and the integrity guard (a preview can never evaluate an askable example)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import web_fixtures as fx
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mirrorneuron.game import training_mask
from mirrorneuron.web.services import imitations as svc

web_home, isolated_home, db_url, app = fx.web_home, fx.isolated_home, fx.db_url, fx.app

UNIT = "tiny-gelu/blocks.0.mlp.post/neuron/3"
IMAGE_UNIT = "digits-mlp/layers.1.post/neuron/5"
API = f"/api/units/{UNIT}"


class Player:
    def __init__(self, app: FastAPI) -> None:
        self.client = TestClient(app, raise_server_exceptions=False)
        me = self.client.get("/api/players/me").json()
        self.id, self.csrf = me["player_id"], me["csrf_token"]

    def post(self, url: str, body: Any, csrf: bool = True) -> Any:
        return self.client.post(url, json=body, headers={"X-CSRF-Token": self.csrf} if csrf else {})


@pytest.fixture(scope="module")
def alice(app: FastAPI) -> Player:
    return Player(app)


def _training(app: FastAPI, unit: str) -> np.ndarray:
    ctx = app.state.mn.units.context(unit)
    return np.asarray(training_mask(ctx.groups))


def test_preview_evaluates_the_rule_on_reference_examples_only(app: FastAPI, alice: Player) -> None:
    r = alice.post(f"{API}/imitation/preview", {"source": 'token " the" -> 2\nelse 0.5'})
    assert r.status_code == 200, r.text
    data = r.json()
    rows = data["rows"]
    assert len(rows) == 16 and {row["kind"] for row in rows} == {"top", "random"}
    training = _training(app, UNIT)
    assert all(training[row["index"]] for row in rows)  # none of them can be asked in a round
    for row in rows:
        ex = row["example"]
        want = 2.0 if ex["tokens"][ex["target"]] == " the" else 0.5
        assert row["predicted"] == pytest.approx(want)
    assert -1.0 <= data["correlation"] <= 1.0


def test_a_preview_cannot_be_pointed_at_other_examples(alice: Player) -> None:
    base = alice.post(f"{API}/imitation/preview", {"source": "pos"}).json()
    assert alice.post(f"{API}/imitation/preview", {"source": "pos", "indices": [5, 6]}).status_code == 422
    moved = alice.post(f"{API}/imitation/preview?index=5&examples=5", {"source": "pos"}).json()
    assert [r["index"] for r in moved["rows"]] == [r["index"] for r in base["rows"]]


def test_the_leak_guard_fires_on_a_planted_askable_reference(
    app: FastAPI, alice: Player, monkeypatch: pytest.MonkeyPatch
) -> None:
    training = _training(app, UNIT)
    askable = int(np.flatnonzero(~training)[0])
    real = svc.reference_examples

    def planted(ctx: Any, refs: Any) -> Any:  # a bug that swaps one reference for an askable example
        out = list(real(ctx, refs))
        out[0] = type(out[0])(askable, ctx.example(askable), float(ctx.values[askable]), "top")
        return tuple(out)

    monkeypatch.setattr(svc, "reference_examples", planted)
    r = alice.post(f"{API}/imitation/preview", {"source": "pos"})
    assert r.status_code == 500 and str(askable) not in r.text
    with pytest.raises(svc.PreviewLeak):
        svc.references(app.state.mn.units.context(UNIT))


@pytest.mark.parametrize(
    ("source", "line", "col"),
    [('token " the" 2', 1, 14), ("pos\nif prev = 1 then 2", 2, 9), ("pixels[0:2, 0:2]", 1, 1)],
)
def test_bad_rules_answer_422_with_line_and_column(alice: Player, source: str, line: int, col: int) -> None:
    r = alice.post(f"{API}/imitation/preview", {"source": source})
    assert r.status_code == 422, r.text
    body = r.json()
    assert (body["line"], body["col"]) == (line, col) and body["detail"].startswith(f"line {line}, col {col}:")
    assert alice.post(f"{API}/imitations", {"source": source}).status_code == 422


def test_save_stores_versions_with_held_out_scores(alice: Player) -> None:
    first = alice.post(f"{API}/imitations", {"source": 'token " the" -> 1'})
    assert first.status_code == 201, first.text
    second = alice.post(f"{API}/imitations", {"source": 'token " the" " a" -> 1'})
    assert second.status_code == 201
    a, b = first.json(), second.json()
    assert (a["version"], b["version"]) == (1, 2) and a["player_id"] == alice.id
    whos = [row["who"] for row in b["scores"]["rows"]]
    assert whos[:4] == ["imitation", "unigram bot", "knn bot", "ridge bot"]
    assert all(row["n"] == b["scores"]["held_out"] for row in b["scores"]["rows"][:4])
    listed = alice.client.get(f"{API}/imitations").json()
    assert [v["version"] for v in listed["imitations"]] == [1, 2]
    assert listed["imitations"][1]["source"] == 'token " the" " a" -> 1'


def test_save_needs_csrf_and_a_known_unit(alice: Player) -> None:
    assert alice.post(f"{API}/imitations", {"source": "1"}, csrf=False).status_code == 403
    assert alice.post("/api/units/tiny-gelu/nope/neuron/1/imitations", {"source": "1"}).status_code == 404
    assert alice.post(f"{API}/imitation/preview", {"source": "1"}, csrf=False).status_code == 403


def test_another_player_does_not_see_my_versions(app: FastAPI, alice: Player) -> None:
    alice.post(f"{API}/imitations", {"source": "0.5"})
    bob = Player(app)
    assert bob.client.get(f"{API}/imitations").json()["imitations"] == []


def test_preview_and_save_are_refused_during_an_open_game_on_the_unit(app: FastAPI) -> None:
    carol = Player(app)
    game = carol.post("/api/games", {"model": "tiny-gelu", "unit": UNIT, "level": 0, "rounds": 3})
    assert game.status_code == 201, game.text
    assert carol.post(f"{API}/imitation/preview", {"source": "1"}).status_code == 403
    assert carol.post(f"{API}/imitations", {"source": "1"}).status_code == 403


def test_images_take_pixel_rules(alice: Player) -> None:
    r = alice.post(f"/api/units/{IMAGE_UNIT}/imitation/preview", {"source": "pixels[0:4, 0:8] * 2"})
    assert r.status_code == 200, r.text
    row = r.json()["rows"][0]
    assert row["predicted"] == pytest.approx(2 * float(np.mean(np.asarray(row["example"]["pixels"])[0:4, 0:8])),
                                             abs=1e-5)
    bad = alice.post(f"/api/units/{IMAGE_UNIT}/imitation/preview", {"source": 'token "a" -> 1'})
    assert bad.status_code == 422 and "text model" in bad.json()["detail"]


def test_the_editor_page_is_linked_from_the_unit_page(alice: Player) -> None:
    unit_page = alice.client.get(f"/units/{UNIT}", headers={"Accept": "text/html"})
    assert f'href="/units/{UNIT}/imitate"' in unit_page.text
    page = alice.client.get(f"/units/{UNIT}/imitate", headers={"Accept": "text/html"})
    assert page.status_code == 200 and 'id="rule-source"' in page.text and "/static/imitate.js" in page.text
