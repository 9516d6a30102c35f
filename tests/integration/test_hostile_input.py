"""Hostile input, table-driven: the API answers 4xx with a JSON ``detail`` (never a 5xx or a traceback) and stores
nothing; the CLI exits 2 with one line; file loaders raise ``UserError`` (studies: ``ValueError``, the contract
the API and CLI turn into 422 / exit 2), quickly for a YAML bomb."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import web_fixtures as fx
from fastapi import FastAPI, HTTPException
from fastapi.testclient import TestClient
from test_security_routes import TEXT_UNIT, Player, snapshot

from cli_run import run_main
from mirrorneuron import safe_yaml
from mirrorneuron.models.sweep import load_spec
from mirrorneuron.store import repo
from mirrorneuron.store.repo import StudyConfig
from mirrorneuron.types import UserError
from mirrorneuron.web import create_app
from mirrorneuron.web.bodylimit import MAX_BODY_BYTES
from mirrorneuron.web.settings import WebSettings

web_home, isolated_home, db_url, app = fx.web_home, fx.isolated_home, fx.db_url, fx.app

BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True)
)
DEEP = "[" * 100_000 + "]" * 100_000
DEEP_YAML = "a: " + "[" * 10_000  # PyYAML parses nesting slowly: 10⁴ is already far past any recursion limit
NAMES = ["\u202eevil\u202c", "a\u200bb", "nul\x00byte", "e\u0301\u0301\u0301" * 50, "\ud800", "x" * 10_000, ""]
TRAVERSAL = ["../../etc/passwd", "/etc/passwd", "%2e%2e/%2e%2e/etc/passwd", "tiny-gelu/../../../etc/passwd",
             "..%2f..%2fetc%2fpasswd", "tiny-gelu/blocks.0.mlp.post/neuron/5/../../../x"]
NUMBERS = ["1e308", "-1e308", "5e-324", "1e309", "NaN", "Infinity", "-Infinity", "1" * 5000]


def guess_body(value: str) -> bytes:
    return b'{"token": "t", "value": ' + value.encode() + b"}"


# (method, url, raw body or None, content type) — every row must answer 4xx + JSON detail and store nothing
API_CASES: list[tuple[str, str, bytes | None, str]] = [
    *[("POST", "/api/rounds/r1/guess", guess_body(n), "application/json") for n in NUMBERS],
    *[("POST", "/api/games", json.dumps({"unit": TEXT_UNIT, "level": 0, "rounds": n}).encode(), "application/json")
      for n in (1e308, -1e308, 5e-324, 10**30)],
    ("POST", "/api/games", b'{"unit": "' + TEXT_UNIT.encode() + b'", "rounds": NaN}', "application/json"),
    *[("POST", "/api/players/me/name", json.dumps({"name": n}).encode(), "application/json") for n in NAMES],
    ("POST", "/api/players/me/name", b'{"name": "\\ud800"}', "application/json"),
    *[("GET", f"/api/units/{t}", None, "") for t in TRAVERSAL],
    *[("GET", f"/api/leaderboard/{t}", None, "") for t in TRAVERSAL],
    *[("POST", "/api/games", json.dumps({"unit": t, "level": 0}).encode(), "application/json") for t in TRAVERSAL],
    *[("POST", "/api/games", json.dumps({"model": t, "level": 0}).encode(), "application/json") for t in TRAVERSAL],
    *[("GET", f"/api/studies/{t}", None, "") for t in TRAVERSAL],
    ("POST", "/api/studies", BOMB.encode(), "application/yaml"),
    ("POST", "/api/studies", DEEP.encode(), "application/json"),
    ("POST", "/api/studies", DEEP_YAML.encode(), "application/yaml"),
    ("POST", "/api/studies", b"\x00\xff\xfe binary", "application/yaml"),
    ("POST", "/api/studies", b"", "application/yaml"),
    ("POST", "/api/games", DEEP.encode(), "application/json"),
    ("POST", "/api/games", b"{" * 50, "application/json"),
    ("POST", "/api/games", b'{"unit": "\xcf\xe9\xad"}', "application/json"),  # not UTF-8
    ("POST", "/api/games", b"x" * (MAX_BODY_BYTES + 1), "application/json"),
    ("POST", "/api/studies", b"name: x\n" + b"#" * (MAX_BODY_BYTES + 1), "application/yaml"),
    ("GET", "/api/custom?unit=" + TEXT_UNIT + "&text=" + "a" * 20_000, None, ""),
    ("GET", "/api/custom?unit=../../etc/passwd&text=hi", None, ""),
    ("GET", "/api/leaderboard?level=1e308", None, ""),
    ("GET", "/api/leaderboard?level=NaN&limit=-1", None, ""),
]


def row_problems(app: FastAPI, db_url: str, method: str, url: str, body: bytes | None, ctype: str) -> list[str]:
    """What is wrong with the app's answer to one hostile request: slow (> 2 s is a bug, not load), not a 4xx
    with a one-line JSON ``detail``, or anything stored."""
    p = Player(app)
    before = snapshot(db_url)
    headers = {"X-CSRF-Token": p.csrf, **({"Content-Type": ctype} if ctype else {})}
    started = time.monotonic()
    r = TestClient(app, raise_server_exceptions=False, cookies=p.client.cookies).request(method, url, content=body, headers=headers)
    took = time.monotonic() - started
    problems = [f"took {took:.1f} s"] if took > 2 else []
    detail = r.json().get("detail") if r.headers.get("content-type") == "application/json" else None
    if not 400 <= r.status_code < 500 or not isinstance(detail, str) or not detail or "Traceback" in r.text:
        problems.append(f"answered {r.status_code}: {r.text[:300]}")
    if snapshot(db_url) != before:
        problems.append("stored something")
    return problems


@pytest.mark.parametrize(("method", "url", "body", "ctype"), API_CASES, ids=[f"{m} {u[:40]} {(b or b'')[:20]!r}" for m, u, b, _ in API_CASES])
def test_api_hostile_input_is_4xx_and_stores_nothing(app: FastAPI, db_url: str, method: str, url: str,
                                                     body: bytes | None, ctype: str) -> None:
    assert row_problems(app, db_url, method, url, body, ctype) == []


def test_planted_row_that_writes_is_caught(db_url: str) -> None:
    """The unchanged-database check fires for a route that answers a proper 4xx but stored a row first."""
    copy = create_app(WebSettings(database_url=db_url, secret_key="test-secret", progression=False))

    async def writes_then_refuses() -> None:
        await copy.state.mn.db.write(lambda s: repo.ensure_player(s, None).id)
        raise HTTPException(400, "refused, after writing")

    copy.add_api_route("/api/planted/refuse", writes_then_refuses, methods=["POST"])
    assert row_problems(copy, db_url, "POST", "/api/planted/refuse", b"{}", "application/json") == ["stored something"]


def test_chunked_oversized_body_is_413(app: FastAPI) -> None:
    """No Content-Length (a streamed body): the limit counts the bytes as they arrive."""
    p = Player(app)

    def chunks() -> Any:
        for _ in range(MAX_BODY_BYTES // 65_536 + 2):
            yield b"x" * 65_536

    r = p.client.post("/api/games", content=chunks(), headers={"X-CSRF-Token": p.csrf, "Content-Type": "application/json"})
    assert r.status_code == 413 and "larger than" in r.json()["detail"]


def test_planted_bomb_through_plain_safe_load_would_explode() -> None:
    """The guard's reason: ``yaml.safe_load`` accepts the bomb, and it expands to 9⁹ leaves."""
    import yaml

    data = yaml.safe_load(BOMB)
    width = 1
    node = data["i"]
    while isinstance(node, list):
        width, node = width * len(node), node[0]
    assert width == 9**9
    with pytest.raises(safe_yaml.TooLarge):
        safe_yaml.load(BOMB)


def write(tmp: Path, name: str, data: bytes) -> Path:
    p = tmp / name
    p.write_bytes(data)
    return p


LOADER_CASES = [
    ("sweep bomb", lambda t: load_spec(write(t, "s.yaml", BOMB.encode())), UserError),
    ("sweep deep", lambda t: load_spec(write(t, "s.yaml", DEEP_YAML.encode())), UserError),
    ("sweep binary", lambda t: load_spec(write(t, "s.yaml", b"\x00\xff\xfe\x00")), UserError),
    ("sweep empty", lambda t: load_spec(write(t, "s.yaml", b"")), UserError),
    ("sweep missing", lambda t: load_spec(t / "../../etc/passwd-nope"), UserError),
    ("study bomb", lambda t: StudyConfig.from_text(BOMB), ValueError),
    ("study deep json", lambda t: StudyConfig.from_text(DEEP), ValueError),
    ("study deep yaml", lambda t: StudyConfig.from_text(DEEP_YAML), ValueError),
    ("study NaN rounds", lambda t: StudyConfig.from_text('{"name": "x", "units": ["a/b/neuron/1"], "rounds_per_unit": NaN}'), ValueError),
    ("study 1e308", lambda t: StudyConfig.from_text(f"name: x\nunits: [{TEXT_UNIT}]\nrounds_per_unit: 1e308\n"), ValueError),
]


@pytest.mark.parametrize(("name", "load", "error"), LOADER_CASES, ids=[c[0] for c in LOADER_CASES])
def test_loaders_refuse_hostile_files_quickly(tmp_path: Path, name: str, load: Any, error: type[Exception]) -> None:
    started = time.monotonic()
    with pytest.raises(error) as info:
        load(tmp_path)
    assert time.monotonic() - started < 5
    assert "\n" not in str(info.value) and str(info.value)


CLI_CASES = [
    ["zoo", "show", "../../etc/passwd"],
    ["zoo", "show", "/etc/passwd"],
    ["zoo", "show", "%2e%2e/%2e%2e"],
    ["zoo", "show", "evil\u202e\u200b"],
    ["play", "--model", "../../etc/passwd"],
    ["harvest", "../../etc/passwd"],
]


@pytest.mark.parametrize("args", CLI_CASES, ids=[" ".join(a) for a in CLI_CASES])
def test_cli_hostile_names_exit_2_with_one_line(
    args: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    started = time.monotonic()
    code, out, err = run_main(args, capsys, monkeypatch)
    assert time.monotonic() - started < 5
    assert code == 2, (code, (out + err)[-500:])
    assert out == "" and err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err
