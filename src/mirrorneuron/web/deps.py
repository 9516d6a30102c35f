"""Request dependencies: the app's shared state, the current player, CSRF and rate-limit checks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, HTTPException, Request
from fastapi.templating import Jinja2Templates

from mirrorneuron.store import repo
from mirrorneuron.web.db import Db
from mirrorneuron.web.ratelimit import RateLimiter
from mirrorneuron.web.schemas.games import SummaryOut
from mirrorneuron.web.schemas.units import UnitOut
from mirrorneuron.web.security import CSRF_FIELD, CSRF_HEADER, PlayerKeys
from mirrorneuron.web.services.memo import GameMeta, Lru
from mirrorneuron.web.settings import WebSettings
from mirrorneuron.web.unitcache import UnitCache


@dataclass
class AppState:
    settings: WebSettings
    db: Db
    units: UnitCache
    keys: PlayerKeys
    limiter: RateLimiter
    templates: Jinja2Templates
    games: Lru[str, GameMeta]
    summaries: Lru[str, SummaryOut]
    unit_pages: Lru[str, UnitOut]


def app_state(request: Request) -> AppState:
    state: AppState = request.app.state.mn
    return state


async def get_state(request: Request) -> AppState:
    """(Dependencies are ``async def``: FastAPI would run plain ones in the threadpool.)"""
    return app_state(request)


State = Annotated[AppState, Depends(get_state)]


async def current_player(request: Request) -> str:
    """The player of the signed cookie; a new anonymous player (and cookie) when there is none."""
    pid: str | None = request.state.player_id
    if pid:
        return pid
    db: Db = app_state(request).db
    pid = await db.write(lambda s: repo.ensure_player(s, None).id)
    request.state.player_id = request.state.new_player_id = pid
    return pid


async def optional_player(request: Request) -> str | None:
    """The cookie's player, or None (no player is created)."""
    pid: str | None = getattr(request.state, "player_id", None)
    return pid


PlayerId = Annotated[str, Depends(current_player)]
MaybePlayer = Annotated[str | None, Depends(optional_player)]


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    if not origin or origin == "null":
        return origin is None
    return urlsplit(origin).netloc == request.headers.get("host", "")


async def check_csrf(request: Request) -> None:
    """POSTs need this player's CSRF token: the ``X-CSRF-Token`` header (JSON API, scripts) or the
    ``csrf_token`` form field (HTML forms); and a cross-origin ``Origin`` header is refused."""
    if not _same_origin(request):
        raise HTTPException(403, "cross-origin request refused")
    token = request.headers.get(CSRF_HEADER)
    if token is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        token = value if isinstance(value, str) else None
    if not app_state(request).keys.csrf_ok(request.state.player_id, token):
        raise HTTPException(403, "missing or wrong CSRF token: reload the page (scripts: send X-CSRF-Token)")


Csrf = Depends(check_csrf)


def adopt_player(request: Request, old: str, new: str) -> None:
    """The cookie's player was unknown to the store (e.g. a fresh database) and got a new id."""
    if new != old:
        request.state.player_id = request.state.new_player_id = new
