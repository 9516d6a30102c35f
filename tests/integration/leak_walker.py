"""An adversarial client: walk every route of the app and report each response that shows a secret value.

Routes: every path of the OpenAPI schema (``/api/openapi.json``) and every route the schema leaves out
(``include_in_schema=False``: the HTML pages, the docs). Reading methods (GET, and HEAD where a route declares
it) are all walked; POST routes are walked only when the caller gives a body (the things a player can create:
a game, a study, joining a study), and an unclassified POST route is an error, so a new route cannot slip by.
Path parameters come from the ids the caller knows (plus the ids the walk's own POSTs create); query
parameters from the schema: enums in full, others from the caller's values (required ones must have some).

Matching rule ("shows the truth"): the web UI prints values with ``fmt(x)`` of ``web/static/charts.js``,
``(x >= 0 ? "+" : "") + x.toFixed(3)``, so a number shows a secret when it prints the same: ``f"{n:+.3f}"``.
- JSON numbers (full floats) anywhere in the body are compared at those 3 digits;
- numbers written in text (HTML, CSV, JSON strings, headers) are compared at the digits they carry, capped at
  3; a number with fewer than 2 decimals (an id, a count, a rank) cannot show a value and is ignored.
The secret is not whitelisted anywhere: a legitimate number that prints the same is reported too, so callers
pick units whose values are spread far wider than 0.001 (chance coincidences then have negligible odds).
"""

from __future__ import annotations

import contextlib
import io
import itertools
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

import pyarrow.parquet as pq
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.routing import Mount

DIGITS = 3  # fmt()'s default digits
MIN_TEXT_DIGITS = 2  # fewest decimals a printed value has in the UI (fmt(x, 2) for stats)
NUMBER = re.compile(r"(?<![\d.])[-+\u2212]?\d+(?:\.(\d+))?(?:[eE][-+]?\d+)?(?!\d)")
ID_KEYS = ("game_id", "next_game_id", "study_id", "round_id", "player_id")
REDIRECT = re.compile(r"^/(play|studies|s|players)/([^/?#]+)$")
REDIRECT_PARAM = {"play": "game_id", "studies": "study_id", "s": "study_id", "players": "player_id"}


@dataclass(frozen=True)
class Create:
    """How the walker POSTs to a creating route: each JSON body (or form fields: the CSRF token is added) is
    sent once per client and filled-in URL."""

    bodies: Sequence[dict[str, Any]] = ({},)
    form: bool = False


@dataclass(frozen=True)
class Hit:
    who: str
    method: str
    url: str
    status: int
    where: str
    printed: str

    def __str__(self) -> str:
        return f"{self.who} {self.method} {self.url} → {self.status}: {self.where} prints {self.printed}"


@dataclass
class Client:
    """A cookie jar of one player (``csrf`` from ``GET /api/players/me``), or none (``anonymous``: the jar is
    emptied before every request, so pages that hand out a cookie do not turn it into a player)."""

    name: str
    client: TestClient
    anonymous: bool = False
    csrf: str = ""
    id: str = ""

    @classmethod
    def player(cls, name: str, app: Any) -> Client:
        """A new player on ``app`` (any ASGI app)."""
        c = cls(name, TestClient(app))
        me = c.client.get("/api/players/me").json()
        c.id, c.csrf = me["player_id"], me["csrf_token"]
        return c

    def send(self, method: str, url: str, **kw: Any) -> Any:
        if self.anonymous:
            self.client.cookies.clear()
        return self.client.request(method, url, follow_redirects=False, **kw)


@dataclass
class WalkResult:
    hits: list[Hit] = field(default_factory=list)
    requests: list[tuple[str, str, str, int]] = field(default_factory=list)  # who, method, url, status
    routes: set[tuple[str, str]] = field(default_factory=set)  # (method, path template) walked
    unscanned: list[str] = field(default_factory=list)  # bodies of another kind, not searched


# --- matching ---------------------------------------------------------------------------------------------
def printed(x: float, digits: int = DIGITS) -> str:
    return f"{x:+.{digits}f}"


class Secrets:
    """The secrets as the UI would print them, at each precision a written number may carry."""

    def __init__(self, values: Sequence[float]) -> None:
        self.at = {d: {printed(v, d) for v in values} for d in range(MIN_TEXT_DIGITS, DIGITS + 1)}

    def number(self, x: float, digits: int = DIGITS) -> bool:
        return printed(x, digits) in self.at[digits]

    def text(self, text: str) -> Iterator[str]:
        """Numbers written in ``text`` that print like a secret at their own precision (2–3 decimals)."""
        for m in NUMBER.finditer(text):
            raw = m.group(0).replace("\u2212", "-")
            digits = DIGITS if "e" in raw.lower() else min(len(m.group(1) or ""), DIGITS)
            if digits >= MIN_TEXT_DIGITS and self.number(float(raw), digits):
                yield raw

    def json(self, node: Any, where: str = "$") -> Iterator[tuple[str, str]]:
        """(JSON path, number) for every number, and number written in a string, that prints like a secret."""
        if isinstance(node, bool) or node is None:
            return
        if isinstance(node, int | float):
            if self.number(float(node)):
                yield where, repr(node)
        elif isinstance(node, str):
            yield from ((where, raw) for raw in self.text(node))
        elif isinstance(node, dict):
            for k, v in node.items():
                yield from self.json(v, f"{where}.{k}")
        elif isinstance(node, list):
            for i, v in enumerate(node):
                yield from self.json(v, f"{where}[{i}]")


def response_hits(r: Any, secrets: Secrets) -> tuple[list[tuple[str, str]], bool]:
    """(where, number) pairs in the body and headers of ``r``; and whether the body could not be searched."""
    found = [(f"header {k}", raw) for k, v in r.headers.items() for raw in secrets.text(v)]
    kind = r.headers.get("content-type", "")
    if not r.content:  # HEAD, redirects
        return found, False
    if "json" in kind:
        found += list(secrets.json(r.json()))
    elif kind.startswith("text/"):
        found += [("body", raw) for raw in secrets.text(r.text)]
    elif "parquet" in kind:  # a study export: every cell
        found += list(secrets.json(pq.read_table(io.BytesIO(r.content)).to_pylist(), "parquet"))
    else:
        return found, True
    return found, False


# --- routes -----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Route:
    method: str
    path: str  # template, converters stripped: /units/{unit_id}
    params: tuple[str, ...]  # path parameters
    query: tuple[tuple[str, bool, tuple[Any, ...]], ...]  # (name, required, enum values)


def _template_params(path: str) -> tuple[str, tuple[str, ...]]:
    clean = re.sub(r"\{(\w+):\w+\}", r"{\1}", path)
    return clean, tuple(re.findall(r"\{(\w+)\}", clean))


def _flat(routes: Sequence[Any]) -> Iterator[Any]:
    for r in routes:
        inner = getattr(r, "original_router", None)  # an included router (FastAPI ≥ 0.16x keeps them nested)
        if inner is not None:
            yield from _flat(inner.routes)
        elif not isinstance(r, Mount):  # /static: files of the repository, no data
            yield r


def routes(app: FastAPI, spec: Mapping[str, Any]) -> list[Route]:
    """Every route: the schema's operations, then the routes the schema leaves out."""
    out = []
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            params = op.get("parameters", [])
            query = tuple(
                (p["name"], bool(p.get("required")), tuple(p["schema"].get("enum", ())))
                for p in params
                if p["in"] == "query"
            )
            out.append(Route(method.upper(), *_template_params(path), query))
    for r in _flat(app.routes):
        if getattr(r, "include_in_schema", False):
            continue  # listed from the schema
        dependant = getattr(r, "dependant", None)
        query = tuple((q.name, q.field_info.is_required(), ()) for q in (dependant.query_params if dependant else []))
        for method in sorted(r.methods or ()):
            out.append(Route(method, *_template_params(r.path), query))
    return out


def _fill(route: Route, ids: Mapping[str, Sequence[str]], spec: Mapping[str, Any]) -> Iterator[str]:
    missing = [p for p in route.params if not ids.get(p) and not _enum(spec, route, p)]
    if missing:
        raise AssertionError(f"{route.method} {route.path}: no ids known for {missing}; give the walker some")
    choices = [list(ids.get(p) or _enum(spec, route, p)) for p in route.params]
    for combo in itertools.product(*choices):
        url = route.path
        for p, v in zip(route.params, combo, strict=True):
            url = url.replace("{" + p + "}", quote(str(v), safe="/:"))
        yield url


def _enum(spec: Mapping[str, Any], route: Route, param: str) -> tuple[Any, ...]:
    op = spec["paths"].get(route.path, {}).get(route.method.lower(), {})
    for p in op.get("parameters", []):
        if p["name"] == param and p["in"] == "path":
            return tuple(p["schema"].get("enum", ()))
    return ()


def _queries(route: Route, values: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """One query per combination of the known values (enums in full); always one without optional ones."""
    names, choices = [], []
    for name, required, enum in route.query:
        options = list(enum or values.get(name, ()))
        if required and not options:
            raise AssertionError(f"{route.method} {route.path}: required query parameter {name!r} has no value")
        if options:
            names.append(name)
            choices.append(options if required else [None, *options])
    out = [{n: v for n, v in zip(names, combo, strict=True) if v is not None} for combo in itertools.product(*choices)]
    return out or [{}]


def _found_ids(body: Any, location: str | None) -> dict[str, set[str]]:
    """Ids a POST answer names (the game, study or player it made), to walk their pages next."""
    out: dict[str, set[str]] = {}

    def visit(node: Any) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                if k in ID_KEYS and isinstance(v, str):
                    out.setdefault(k.removeprefix("next_"), set()).add(v)
                visit(v)
        elif isinstance(node, list):
            for v in node:
                visit(v)

    visit(body)
    m = REDIRECT.match(location or "")
    if m:
        out.setdefault(REDIRECT_PARAM[m.group(1)], set()).add(m.group(2))
    return out


@contextlib.contextmanager
def _opened(clients: Sequence[Client]) -> Iterator[None]:
    """Each client's TestClient entered (its event-loop portal started) unless it already is, for a block."""
    with contextlib.ExitStack() as stack:
        for c in clients:
            if c.client.portal is None:
                stack.enter_context(c.client)
        yield


def walk(
    app: FastAPI,
    clients: Sequence[Client],
    secrets: Sequence[float],
    ids: Mapping[str, Sequence[str]],
    query: Mapping[str, Sequence[Any]],
    creates: Mapping[str, Create],
    skip_posts: Mapping[str, str],
    page_query: Mapping[str, str] | None = None,
) -> WalkResult:
    """Walk every route as each client and return every response that shows one of ``secrets``.

    ``creates``: POST path template → how to create (walked first, so the created ids are walked too);
    ``skip_posts``: POST path template → why it is not walked (it answers a round, or changes settings);
    ``page_query``: query values also sent to each HTML page without path parameters (such pages read some
    straight from the request: ``/custom?unit=``, ``/?unit=``)."""
    with _opened(clients):  # one event-loop thread per client for the whole walk, not a new one per request
        result, wanted = WalkResult(), Secrets(secrets)
        spec = clients[0].send("GET", app.openapi_url or "/api/openapi.json").json()  # as served
        every = routes(app, spec)
        posts = {r.path for r in every if r.method == "POST"}
        unclassified = posts - set(creates) - set(skip_posts)
        if unclassified:
            raise AssertionError(f"POST routes the walker does not know how to treat: {sorted(unclassified)}")
        known: dict[str, set[str]] = {k: set(v) for k, v in ids.items()}

        def record(c: Client, route: Route, url: str, r: Any, params: Mapping[str, Any] | None = None) -> None:
            method = route.method
            result.routes.add((method, route.path))
            shown = url + (f"?{urlencode(params)}" if params else "")
            result.requests.append((c.name, method, shown, r.status_code))
            found, binary = response_hits(r, wanted)
            if binary:
                result.unscanned.append(f"{c.name} {method} {shown}")
            result.hits += [Hit(c.name, method, shown, r.status_code, where, raw) for where, raw in found]

        given = {k: sorted(v) for k, v in known.items()}  # POSTs fill in the given ids only: no snowballing
        for route in (r for r in every if r.method == "POST" and r.path in creates):
            create = creates[route.path]
            for c, url, body in itertools.product(clients, list(_fill(route, given, spec)), create.bodies):
                if create.form:
                    r = c.send("POST", url, data={**body, "csrf_token": c.csrf})
                else:
                    r = c.send("POST", url, json=body, headers={"X-CSRF-Token": c.csrf})
                record(c, route, url, r)
                parsed = r.json() if "json" in r.headers.get("content-type", "") else None
                for k, v in _found_ids(parsed, r.headers.get("location")).items():
                    known.setdefault(k, set()).update(v)
        for route in (r for r in every if r.method in ("GET", "HEAD")):
            html = not route.path.startswith("/api/")
            for url in _fill(route, {k: sorted(v) for k, v in known.items()}, spec):
                params_list = _queries(route, query)
                if html and page_query and not route.params:
                    params_list = [*params_list, {**params_list[0], **page_query}]
                for params, c in itertools.product(params_list, clients):
                    r = c.send(route.method, url, params=params)
                    record(c, route, url, r, params=params)
        return result


def assert_no_leak(result: WalkResult, what: str) -> None:
    hits = list(dict.fromkeys(str(h) for h in result.hits))
    if hits:
        lines = "\n".join(f"  {h}" for h in hits[:25])
        raise AssertionError(f"{what}: {len(hits)} response field(s) show an unanswered round's truth:\n{lines}")
