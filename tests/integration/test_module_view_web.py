"""The module view's JSON twin and campaign mode over the API on the default text model: who imitated what,
the curve and baselines, a suggestion linked to the imitated units, the campaign's play → imitate → next
suggestion loop, clear errors, and no per-example values in anything it serves."""

from __future__ import annotations

from typing import Any

import pytest
import web_fixtures as fx
from api_player import ApiPlayer
from fastapi import FastAPI

web_home, isolated_home, db_url, app = fx.web_home, fx.isolated_home, fx.db_url, fx.app

SITE = "blocks.0.mlp.post"
API = "/api/modules/tiny-gelu"
RULE_38 = 'token " an" -> 2.80, " no" -> 2.23, "No" -> 1.98, " d" -> 1.95\nelse -0.11'
PER_EXAMPLE_KEYS = {"actual", "value", "values", "tokens", "example", "examples", "predicted"}


def keys(data: Any) -> set[str]:
    if isinstance(data, dict):
        return set(data) | {k for v in data.values() for k in keys(v)}
    if isinstance(data, list):
        return {k for v in data for k in keys(v)}
    return set()


def short(unit_id: str) -> str:
    _, site, _, index = unit_id.split("/")
    return f"{site}/{index}"


def linked(view: dict[str, Any], unit_id: str, imitated: set[str]) -> bool:
    return any(unit_id in (e["source"], e["target"]) and {e["source"], e["target"]} & imitated for e in view["edges"])


@pytest.fixture(scope="module")
def alice(app: FastAPI, db_url: str) -> ApiPlayer:
    return ApiPlayer(app, db_url)


def test_errors_are_one_line_4xx(alice: ApiPlayer) -> None:
    for url, code in [
        (API, 422),
        (f"{API}?site={SITE}&module=0", 422),
        (f"{API}?site=blocks.9.mlp.post", 404),
        (f"{API}?module=999", 404),
        ("/api/modules/no-such-model?site=x", 404),
        (f"{API}?module=-1", 422),
    ]:
        r = alice.client.get(url)
        assert r.status_code == code, (url, r.text)
        assert r.json()["detail"]


def test_json_twin_shows_imitations_curve_baselines_and_a_linked_suggestion(alice: ApiPlayer) -> None:
    unit = f"tiny-gelu/{SITE}/neuron/38"
    assert alice.post(f"/api/units/{unit}/imitations", {"source": RULE_38}).status_code == 201
    view = alice.client.get(f"{API}?site={SITE}").json()
    assert view["set"] == f"site {SITE}" and len(view["units"]) == 256 and SITE in view["sites"]
    row = next(u for u in view["units"] if u["id"] == unit)
    assert [i["player_id"] for i in row["imitated_by"]] == [alice.id]
    assert row["used"]["correlation"] > 0.9  # the stored held-out score (docs/imitations.md: 0.97)
    assert [u["id"] for u in view["units"] if u["imitated_by"]] == [unit]
    assert [(r["n_units"], r["unit"]) for r in view["curve"]] == [(1, short(unit))]
    assert isinstance(view["curve"][0]["loss_recovered"], float)
    assert [b["candidate"] for b in view["baselines"]] == ["zero", "mean", "ridge"]
    assert view["baselines"][1]["loss_recovered"] == pytest.approx(0.0, abs=1e-9)  # mean under mean ablation
    s = view["suggestion"]
    assert s["unit_id"] != unit and 1 <= len(s["candidates"]) <= 12
    assert linked(view, s["unit_id"], {unit}) or s["reason"].startswith("no unit is linked")
    assert [c["loss_gain"] for c in s["candidates"]] == sorted((c["loss_gain"] for c in s["candidates"]), reverse=True)
    assert not keys(view) & PER_EXAMPLE_KEYS  # aggregates only: no example and no per-example value
    module = row["module"]
    by_module = alice.client.get(f"{API}?module={module}").json()
    assert unit in {u["id"] for u in by_module["units"]} and {u["module"] for u in by_module["units"]} == {module}


def test_pages_render(alice: ApiPlayer) -> None:
    assert 'name="model"' in alice.client.get("/modules").text
    picker = alice.client.get("/modules/tiny-gelu").text
    assert f"?site={SITE}" in picker and "?module=0" in picker
    page = alice.client.get(f"/modules/tiny-gelu?site={SITE}").text
    assert 'id="module-view"' in page and "/static/modules.js" in page
    assert alice.client.get("/modules/no-such-model").status_code == 404
    assert 'data-mode="campaign"' in alice.client.get(f"/modules/tiny-gelu/campaign?site={SITE}").text


def play_out(p: ApiPlayer, game_id: str) -> None:
    while not (nxt := p.client.get(f"/api/games/{game_id}/round").json())["done"]:
        rnd = nxt["round"]
        r = p.post(f"/api/rounds/{rnd['round_id']}/guess", {"token": rnd["token"], "value": 0.0})
        assert r.status_code == 200, r.text


def test_campaign_walks_the_player_along_the_suggestions(app: FastAPI, db_url: str) -> None:
    bob = ApiPlayer(app, db_url)
    camp = bob.client.get(f"{API}/campaign?site={SITE}").json()
    assert camp["imitated"] == 0 and camp["total"] == 256 and camp["view"]["curve"] == []  # alice's are not his
    first = camp["view"]["suggestion"]["unit_id"]
    assert camp["imitate_url"] == f"/units/{first}/imitate"
    no_csrf = bob.client.post(f"{API}/campaign/start", json={"site": SITE})
    assert no_csrf.status_code == 403
    started = bob.post(f"{API}/campaign/start", {"site": SITE})
    assert started.status_code == 201, started.text
    game = started.json()
    assert game["unit_id"] == first and game["play_url"] == f"/play/{game['game_id']}"
    assert bob.client.get(f"/api/games/{game['game_id']}").json()["unit_id"] == first
    assert bob.post(f"/api/units/{first}/imitations", {"source": "else 0"}).status_code == 403  # game open
    play_out(bob, game["game_id"])
    assert bob.post(f"/api/units/{first}/imitations", {"source": "else 0"}).status_code == 201
    camp = bob.client.get(f"{API}/campaign?site={SITE}").json()
    assert camp["imitated"] == 1 and [r["unit"] for r in camp["view"]["curve"]] == [short(first)]
    nxt = camp["view"]["suggestion"]["unit_id"]
    assert nxt is not None and nxt != first
    assert linked(camp["view"], nxt, {first}) or camp["view"]["suggestion"]["reason"].startswith("no unit is linked")
    assert not keys(camp) & PER_EXAMPLE_KEYS
