"""``POST``/``GET /api/units/{unit_id}/explanations`` against the fake OpenAI-compatible simulator server."""

from __future__ import annotations

import explain_server as es
import pytest
import web_fixtures as fx
from api_player import ApiPlayer
from explain_server import ExplainServer
from fastapi import FastAPI

from explain_seed import seed_explained_unit
from mirrorneuron.game.scoring import summarize

web_home, isolated_home, db_url, app = fx.web_home, fx.isolated_home, fx.db_url, fx.app
explain_server = es.explain_server  # the fixture


def _player(app: FastAPI, db_url: str, **kw: object) -> tuple[ApiPlayer, dict[str, object]]:
    p = ApiPlayer(app, db_url)
    with p.sessions() as s:
        unit = seed_explained_unit(s, p.id, **kw)  # type: ignore[arg-type]
    return p, unit


def test_post_scores_after_the_answer_and_get_lists_the_scores(
    app: FastAPI, db_url: str, explain_server: ExplainServer
) -> None:
    p, unit = _player(app, db_url)
    url = f"/api/units/{unit['unit_id']}/explanations"
    r = p.post(url, {"text": "the word cat", "llm_explanation": True})
    assert r.status_code == 202, r.text
    posted = r.json()
    assert posted["status"] == "scoring" and posted["author"] == p.id and posted["simulation"] is None
    listed = p.client.get(url).json()  # the TestClient ran the background scoring before returning
    assert listed["unit_id"] == unit["unit_id"]
    mine = next(e for e in listed["explanations"] if e["id"] == posted["id"])
    llm = next(e for e in listed["explanations"] if e["author"].startswith("llm:"))
    assert mine["status"] == "scored" and mine["n"] == 12 and mine["backend"] == "openai:fake-sim"
    assert mine["player"]["correlation"] == pytest.approx(summarize(unit["actual"], unit["guesses"]).correlation)
    assert mine["simulation"]["correlation"] > 0.9 and mine["llm_text"] == "the word cat" == llm["text"]
    assert llm["simulation"]["correlation"] == pytest.approx(mine["llm"]["correlation"])
    assert "simulated" not in r.text + str(listed) and "round_ids" not in str(listed)  # metrics only, in public


def test_bad_requests_get_a_json_detail(
    app: FastAPI, db_url: str, explain_server: ExplainServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    p, unit = _player(app, db_url)
    url = f"/api/units/{unit['unit_id']}/explanations"
    r = p.client.post(url, json={"text": "cats"})  # no CSRF token
    assert r.status_code == 403 and r.json()["detail"]
    assert p.post(url, {"text": ""}).status_code == 422
    assert p.post(url, {"text": "cats", "extra": 1}).status_code == 422
    assert p.post("/api/units/nope%2Funit/explanations", {"text": "cats"}).status_code == 404
    assert p.client.get("/api/units/nope/unit/explanations").status_code == 404
    other = ApiPlayer(app, db_url)  # never played the unit
    r = other.post(url, {"text": "cats"})
    assert r.status_code == 422 and "play at least 2" in r.json()["detail"]
    monkeypatch.delenv("MIRRORNEURON_LLM_BASE_URL")
    r = p.post(url, {"text": "cats"})
    assert r.status_code == 503 and "MIRRORNEURON_LLM_BASE_URL" in r.json()["detail"]


def test_a_failed_scoring_is_shown_as_failed(app: FastAPI, db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MIRRORNEURON_LLM_BASE_URL", "http://127.0.0.1:9/v1")  # nothing listens there
    monkeypatch.setenv("MIRRORNEURON_LLM_MODEL", "m")
    p, unit = _player(app, db_url)
    url = f"/api/units/{unit['unit_id']}/explanations"
    posted = p.post(url, {"text": "cats"}).json()
    got = next(e for e in p.client.get(url).json()["explanations"] if e["id"] == posted["id"])
    assert got["status"] == "failed" and "cannot reach the LLM server" in got["error"]
