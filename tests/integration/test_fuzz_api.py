"""Property-based fuzzing of the JSON API from its own OpenAPI schema (schemathesis, in-process over ASGI).

Every operation is fuzzed as a signed-in player (cookie + CSRF header), and a stateful run follows OpenAPI
links (game start → its round → the guess, with the round's id and token). Checks: no 5xx, responses match
their declared schema, status codes are declared. ``tests/stress/fuzz_api.py`` runs the same with more examples.

The shipped models are harvested before fuzzing: a valid model's first harvest is the one legitimately slow
request (seconds), and a fuzzer that hits it makes a timing test of a schema test. Bad ids are refused
before any harvest (``UnitCache.check``); ``test_bad_unit_ids_are_refused_without_harvesting`` holds that.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import hypothesis
import pytest
import schemathesis
import web_fixtures as fx
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase
from schemathesis.checks import not_a_server_error
from schemathesis.core import NotSet
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from mirrorneuron.config import BUILTIN_ZOO
from mirrorneuron.types import UserError
from mirrorneuron.web import create_app, unitcache
from mirrorneuron.web.services.tutorial import tutorial_unit
from mirrorneuron.web.settings import WebSettings

web_home, isolated_home, db_url, app = fx.web_home, fx.isolated_home, fx.db_url, fx.app

EXPLAIN = "/api/units/{unit_id}/explanations"


def declared_503(response: Any, case: Any) -> bool:
    """The documented 503 of explanation scoring on a server with no LLM configured (this test app has none:
    the answer is the declared one, not a crash)."""
    return response.status_code == 503 and case.operation.path == EXPLAIN and "needs an LLM" in response.text


@schemathesis.check
def no_server_error(ctx: Any, response: Any, case: Any) -> bool | None:
    """``not_a_server_error``, except :func:`declared_503`."""
    return None if declared_503(response, case) else not_a_server_error(ctx, response, case)


CHECKS = [no_server_error, response_schema_conformance, status_code_conformance]
FAILED = (Exception, BaseExceptionGroup)  # schemathesis' FailureGroup is a BaseExceptionGroup
LINKS: dict[tuple[str, str, str], dict[str, dict[str, Any]]] = {
    # (path, method, status) → links of that response
    ("/api/games", "post", "201"): {
        "NextRound": {"operationId": "next_round_api_games__game_id__round_get",
                      "parameters": {"game_id": "$response.body#/game_id"}},
        "Game": {"operationId": "get_game_api_games__game_id__get", "parameters": {"game_id": "$response.body#/game_id"}},
    },
    ("/api/games/{game_id}/round", "get", "200"): {
        "Guess": {"operationId": "guess_api_rounds__round_id__guess_post",
                  "parameters": {"round_id": "$response.body#/round/round_id"},
                  "requestBody": {"token": "$response.body#/round/token", "value": 0.5}},
        "Summary": {"operationId": "summary_api_games__game_id__summary_get",
                    "parameters": {"game_id": "$response.body#/game_id"}},
    },
    ("/api/rounds/{round_id}/guess", "post", "200"): {
        "Reveal": {"operationId": "reveal_api_rounds__round_id__reveal_get",
                   "parameters": {"round_id": "$request.path.round_id"}},
    },
}


def with_links(app: FastAPI) -> FastAPI:
    """The app whose cached OpenAPI schema carries ``LINKS`` (what schemathesis' stateful phase follows)."""
    doc = app.openapi()
    for (path, method, status), links in LINKS.items():
        doc["paths"][path][method]["responses"][status]["links"] = links
    app.openapi_schema = doc
    return app


def signed_in(app: FastAPI) -> dict[str, str]:
    """Headers of a fresh player: its signed cookie and CSRF token."""
    c = TestClient(app)
    me = c.get("/api/players/me").json()
    return {"Cookie": f"mn_player={c.cookies['mn_player']}", "X-CSRF-Token": me["csrf_token"]}


def reproduce(case: Any) -> str:
    """The case's parameters and body, short: enough to replay it by hand."""
    parts = {"path": case.path_parameters, "query": case.query, "body": case.body}
    return repr({k: v for k, v in parts.items() if v and not isinstance(v, NotSet)})[:300]


@dataclass
class Tally:
    calls: int = 0
    stateful: int = 0  # of which along links
    server_errors: int = 0  # 5xx but the declared 503
    slowest: tuple[float, str] = (0.0, "")  # seconds, operation
    statuses: dict[int, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    def check(self, case: Any, response: Any, stateful: bool) -> None:
        """Count the answer, then run the checks on it; a failed check keeps its first line and the case."""
        self.calls += 1
        self.stateful += stateful
        self.statuses[response.status_code] = self.statuses.get(response.status_code, 0) + 1
        self.server_errors += response.status_code >= 500 and not declared_503(response, case)
        self.slowest = max(self.slowest, (round(response.elapsed, 2), f"{case.operation.label} {reproduce(case)}"))
        try:
            case.validate_response(response, checks=CHECKS)
        except FAILED as e:
            self.failed(case, e, stateful)

    def failed(self, case: Any, e: BaseException, stateful: bool) -> None:
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        self.failures.append(f"{'stateful ' * stateful}{case.operation.label}: {first} [{reproduce(case)}]")

    def as_dict(self) -> dict[str, Any]:
        return {"calls": self.calls, "stateful_calls": self.stateful, "statuses": dict(sorted(self.statuses.items())),
                "failures": len(self.failures), "server_errors": self.server_errors,
                "slowest_s": self.slowest[0], "slowest_operation": self.slowest[1]}


def fuzz(app: FastAPI, max_examples: int, seed: int = 1234, stateful_steps: int = 20) -> Tally:
    """Every operation with ``max_examples`` cases, then a stateful run along the links; derandomised."""
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", with_links(app))
    headers = signed_in(app)
    tally = Tally()
    cfg = hypothesis.settings(max_examples=max_examples, derandomize=True, database=None, deadline=None,
                              suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
    for result in schema.get_all_operations():
        op = result.ok()

        @cfg
        @hypothesis.seed(seed)
        @hypothesis.given(case=op.as_strategy())
        def run(case: Any) -> None:
            try:
                response = case.call(headers=headers)
            except FAILED as e:  # the transport gave up (a read timeout: > 10 s)
                tally.calls += 1
                tally.failed(case, e, stateful=False)
                return
            tally.check(case, response, stateful=False)

        run()
    machine = schema.as_state_machine()

    class Linked(machine):  # type: ignore[misc, valid-type]
        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"headers": headers}

        def validate_response(self, response: Any, case: Any, **kw: Any) -> None:
            tally.check(case, response, stateful=True)

    run_state_machine: Callable[..., None] = hypothesis.stateful.run_state_machine_as_test
    run_state_machine(Linked, settings=hypothesis.settings(
        cfg, max_examples=max(5, max_examples // 5), stateful_step_count=stateful_steps))
    return tally


def prepare(app: FastAPI) -> FastAPI:
    """``app`` with every shipped model's once-per-process work done by its own unit cache: the default harvest,
    the surprise-unit candidates and (text models) the tutorial's unit, which a new player's first game uses."""
    cache = app.state.mn.units
    for model in sorted(p.name for p in BUILTIN_ZOO.iterdir() if (p / "model.safetensors").exists()):
        cache.lively_units(model)
        if cache.adapter(model).modality == "text":
            tutorial_unit(cache, model)
    return app


@pytest.fixture(scope="module")
def prepared(app: FastAPI) -> FastAPI:
    return prepare(app)


def test_fuzz_api_no_server_errors_no_schema_violations(prepared: FastAPI) -> None:
    tally = fuzz(prepared, max_examples=8)
    print(json.dumps(tally.as_dict()))  # the figures docs/reliability.md records (pytest -s shows them)
    assert tally.calls > 200 and tally.stateful > 10  # every operation was exercised, and links were followed
    assert tally.failures == [], tally.failures[:20]
    assert tally.server_errors == 0


BAD_UNITS = [
    "tiny-gelu/blocks.0.mlp.post/neuron/99999",  # index out of range: this one used to harvest first (18.8 s)
    "tiny-gelu/blocks.9.mlp.post/neuron/1",  # no such site
    "tiny-gelu/blocks.0.resid.post/probe/nope",  # no such probe: a resid harvest would be a new one
    "tiny-gelu/blocks.0.resid.post/sae_feature/none:3",
    "no-such-model/blocks.0.mlp.post/neuron/1",
]


def harvests_for_bad_ids(db_url: str, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The models a fresh app (empty unit cache) starts harvesting while it answers ``BAD_UNITS``, each of
    which must get a 422 with its reason."""
    started: list[str] = []

    def recording(adapter: Any, *args: Any) -> None:
        started.append(adapter.name)
        raise UserError("a harvest was started")

    monkeypatch.setattr(unitcache, "ensure_harvest", recording)
    fresh = create_app(WebSettings(database_url=db_url, secret_key="test-secret", progression=False))
    headers = signed_in(fresh)
    client = TestClient(fresh)
    for unit in BAD_UNITS:
        r = client.post("/api/games", json={"unit": unit}, headers=headers)
        assert r.status_code == 422 and r.json()["detail"], (unit, r.text)
    return started


def test_bad_unit_ids_are_refused_without_harvesting(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    assert harvests_for_bad_ids(db_url, monkeypatch) == []


def test_planted_unchecked_ids_would_harvest(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without ``UnitCache.check`` the same ids reach a harvest: the guard above is what stops them."""
    monkeypatch.setattr(unitcache.UnitCache, "check", lambda self, ref: None)
    assert "tiny-gelu" in harvests_for_bad_ids(db_url, monkeypatch)


def peak_concurrent_harvests(monkeypatch: pytest.MonkeyPatch) -> int:
    """Two workers' unit caches asking for the same model's harvest at once: how many harvests ran together."""
    active, peak, both = [0], [0], threading.Event()
    count = threading.Lock()

    def slow(adapter: Any, *args: Any) -> str:
        with count:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        if peak[0] >= 2:
            both.set()
        both.wait(1.0)  # long enough for the other worker to join, were it let in
        with count:
            active[0] -= 1
        return "harvest"

    monkeypatch.setattr(unitcache, "ensure_harvest", slow)
    workers = [threading.Thread(target=unitcache.UnitCache().harvest, args=("tiny-gelu",)) for _ in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return peak[0]


def test_one_harvest_of_a_model_at_a_time_across_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    assert peak_concurrent_harvests(monkeypatch) == 1


def test_planted_no_cross_worker_lock_harvests_twice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(unitcache, "harvest_lock", lambda model: contextlib.nullcontext())
    assert peak_concurrent_harvests(monkeypatch) == 2


def test_body_that_is_not_utf8_is_the_declared_422(app: FastAPI) -> None:
    """Schemathesis' finding: FastAPI answered such a body with an undeclared 400."""
    r = TestClient(app).post("/api/games", content=b"\xcfl\xe9\xad", headers={**signed_in(app), "Content-Type": "application/json"})
    declared = app.openapi()["paths"]["/api/games"]["post"]["responses"]
    assert r.status_code == 422 and "422" in declared and "400" not in declared and r.json()["detail"]
