"""Property-based fuzzing of the JSON API from its own OpenAPI schema (schemathesis, in-process over ASGI).

Every operation is fuzzed as a signed-in player (cookie + CSRF header), and a stateful run follows OpenAPI
links (game start → its round → the guess, with the round's id and token). Checks: no 5xx, responses match
their declared schema, status codes are declared. ``tests/stress/fuzz_api.py`` runs the same with more examples.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import hypothesis
import schemathesis
import web_fixtures as fx
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

web_home, isolated_home, db_url, app = fx.web_home, fx.isolated_home, fx.db_url, fx.app

EXPLAIN = "/api/units/{unit_id}/explanations"


@schemathesis.check
def no_server_error(ctx: Any, response: Any, case: Any) -> bool | None:
    """``not_a_server_error``, except the declared 503 of explanation scoring on a server with no LLM configured
    (this test app has none: the answer is the documented one, not a crash)."""
    if response.status_code == 503 and case.operation.path == EXPLAIN and "needs an LLM" in response.text:
        return None
    return not_a_server_error(ctx, response, case)


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


@dataclass
class Tally:
    calls: int = 0
    stateful: int = 0  # of which along links
    statuses: dict[int, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    def call(self, case: Any, headers: dict[str, str]) -> None:
        self.calls += 1
        try:
            r = case.call_and_validate(headers=headers, checks=CHECKS)
            self.statuses[r.status_code] = self.statuses.get(r.status_code, 0) + 1
        except FAILED as e:  # a failed check: keep the first line, the operation and the case to reproduce
            self.failures.append(f"{case.operation.label}: {str(e).splitlines()[0] if str(e) else type(e).__name__}")

    def as_dict(self) -> dict[str, Any]:
        return {"calls": self.calls, "stateful_calls": self.stateful, "statuses": dict(sorted(self.statuses.items())), "failures": len(self.failures),
                "server_errors": sum(n for s, n in self.statuses.items() if s >= 500)}


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
            tally.call(case, headers)

        run()
    machine = schema.as_state_machine()

    class Linked(machine):  # type: ignore[misc, valid-type]
        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"headers": headers}

        def validate_response(self, response: Any, case: Any, **kw: Any) -> None:
            tally.statuses[response.status_code] = tally.statuses.get(response.status_code, 0) + 1
            tally.calls += 1
            tally.stateful += 1
            try:
                case.validate_response(response, checks=CHECKS)
            except FAILED as e:
                tally.failures.append(f"stateful {case.operation.label}: {str(e).splitlines()[0]}")

    run_state_machine: Callable[..., None] = hypothesis.stateful.run_state_machine_as_test
    run_state_machine(Linked, settings=hypothesis.settings(
        cfg, max_examples=max(5, max_examples // 5), stateful_step_count=stateful_steps))
    return tally


def test_fuzz_api_no_server_errors_no_schema_violations(app: FastAPI) -> None:
    tally = fuzz(app, max_examples=8)
    assert tally.calls > 200 and tally.stateful > 10  # every operation was exercised, and links were followed
    assert tally.failures == [], tally.failures[:20]
    assert tally.as_dict()["server_errors"] == 0
