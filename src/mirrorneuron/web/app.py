"""The web game's app factory: ``create_app()`` builds a FastAPI app (uvicorn: ``--factory``)."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from sqlalchemy.engine import make_url
from starlette.requests import Request

from mirrorneuron.config import settings as core_settings
from mirrorneuron.store.db import database_url, make_engine, migrate_if_behind
from mirrorneuron.web import errors
from mirrorneuron.web.bodylimit import BodyLimitMiddleware
from mirrorneuron.web.db import Db
from mirrorneuron.web.deps import AppState
from mirrorneuron.web.ratelimit import RateLimiter
from mirrorneuron.web.routers import ROUTERS
from mirrorneuron.web.schemas.common import Problem, ValidationProblem
from mirrorneuron.web.security import PlayerCookieMiddleware, PlayerKeys
from mirrorneuron.web.services.memo import Lru
from mirrorneuron.web.settings import WebSettings, load_secret
from mirrorneuron.web.unitcache import UnitCache

HERE = Path(__file__).parent
ERROR_RESPONSES: dict[int | str, dict[str, object]] = {
    422: {"model": ValidationProblem, "description": "the request did not validate"},
    500: {"model": Problem, "description": "internal error (no details are served)"},
}


def _templates(keys: PlayerKeys) -> Jinja2Templates:
    def player_context(request: Request) -> dict[str, object]:
        pid = getattr(request.state, "player_id", None)
        return {"player_id": pid, "csrf_token": keys.csrf_token(pid) if pid else ""}

    return Jinja2Templates(directory=str(HERE / "templates"), context_processors=[player_context])


def create_app(settings: WebSettings | None = None) -> FastAPI:
    """The app with its database engine, caches and routers. Safe to call once per worker: ``serve`` migrates
    before the workers start, so each worker only checks that the schema is current (a lone app migrates)."""
    settings = settings or WebSettings()
    url = settings.database_url or database_url()
    # A pooled SQLite connection is a local file handle that cannot go stale: no ping per checkout (≈ 40 µs
    # a guess, docs/benchmarks.md "Web, round 3"). Network databases keep the store's pre-ping.
    sqlite = make_url(url).get_backend_name() == "sqlite"
    engine = make_engine(url, **({"pool_pre_ping": False} if sqlite else {}))
    migrate_if_behind(engine)
    keys = PlayerKeys(settings.secret_key or load_secret(core_settings().home))
    app = FastAPI(
        title="mirrorneuron",
        summary="Imitate one unit of a neural network: guess its activation, see the truth, learn the unit.",
        version="0.1.0",
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    app.state.mn = AppState(
        settings=settings,
        db=Db(engine),
        units=UnitCache(settings.max_cached_units),
        keys=keys,
        limiter=RateLimiter(settings.guess_rate, settings.guess_burst),
        templates=_templates(keys),
        games=Lru(20_000),
        summaries=Lru(2_000),
        unit_pages=Lru(256),
    )
    errors.install(app)
    for router in ROUTERS:
        app.include_router(router, responses=ERROR_RESPONSES)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    app.add_middleware(PlayerCookieMiddleware, keys=keys, secure=settings.cookie_secure)
    app.add_middleware(BodyLimitMiddleware)  # outermost: refuses oversized bodies before anything reads them
    return app
