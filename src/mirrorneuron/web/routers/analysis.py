"""The analysis report as a page and its JSON twin, global and per study (owner only, as the study's progress).

Aggregate over answered rounds only (a round without a guess never enters the analysis). The global page
leaves out units an open study locks, as the leaderboards do. A report is slow to compute: it is built off
the event loop and cached per (study, the store's latest guess id, the locked units), so a new guess, or a
study opening or closing, makes the next request build a fresh one.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from mirrorneuron.store.locks import locked_units
from mirrorneuron.store.models import Guess
from mirrorneuron.web.deps import AppState, MaybePlayer, PlayerId, State
from mirrorneuron.web.routers.common import R403, R404, fast_json
from mirrorneuron.web.routers.studies import owned_study
from mirrorneuron.web.schemas.analysis import AnalysisOut
from mirrorneuron.web.services.memo import Lru

router = APIRouter(tags=["analysis"])
CACHED_REPORTS = 16
Key = tuple[str | None, int | None, frozenset[str]]


@dataclass(frozen=True)
class Built:
    out: AnalysisOut
    body: str  # the report's HTML body (render_sections)


@dataclass
class AnalysisCache:
    reports: Lru[Key, Built]
    lock: asyncio.Lock


def _cache(request: Request) -> AnalysisCache:
    cache: AnalysisCache | None = getattr(request.app.state, "analysis_cache", None)
    if cache is None:
        cache = request.app.state.analysis_cache = AnalysisCache(Lru(CACHED_REPORTS), asyncio.Lock())
    return cache


def _build(engine: Engine, study: str | None, exclude: frozenset[str]) -> Built:
    # imported here, not at the top: analysis pulls in pandas, scipy and matplotlib (≈ 2 s), which every
    # server process would otherwise import at start; _build runs in the thread pool, off the event loop
    from mirrorneuron.analysis.report import build_report, load_data, period, render_sections, report_json

    report = build_report(load_data(engine, study=study, exclude_units=exclude))
    report.covers.update(period(engine, study=study, exclude_units=exclude), withheld_units=len(exclude))
    return Built(AnalysisOut.model_validate(report_json(report)), str(render_sections(report)))


async def analysis(request: Request, state: AppState, study: str | None) -> Built:
    """The (cached) report of one study, or of all gameplay outside the units open studies lock."""

    def probe(s: Session) -> tuple[int | None, frozenset[str]]:
        latest = s.scalar(select(func.max(Guess.id)))
        return latest, frozenset() if study else frozenset(locked_units(s))

    latest, exclude = await state.db.read(probe)
    key: Key = (study, latest, exclude)
    cache = _cache(request)
    async with cache.lock:  # one build at a time; a request that waited finds the report built
        built = cache.reports.get(key)
        if built is None:
            built = cache.reports.put(key, await run_in_threadpool(_build, state.db.engine, study, exclude))
    return built


def _page(request: Request, state: AppState, built: Built, json_url: str) -> Response:
    ctx: dict[str, Any] = {"title": built.out.title, "body": built.body, "json_url": json_url}
    return state.templates.TemplateResponse(request, "analysis.html", ctx)


@router.get("/api/analysis", response_model=AnalysisOut)
async def analysis_api(request: Request, state: State) -> Response:
    """JSON twin of the analysis page: every section's note, facts, tables (records) and figure (PNG data
    URI), over all answered rounds except those on units an open study locks."""
    return fast_json((await analysis(request, state, None)).out)


@router.get("/api/studies/{study_id}/analysis", response_model=AnalysisOut, responses={**R403, **R404})
async def study_analysis_api(request: Request, study_id: str, state: State, player: MaybePlayer) -> Response:
    """JSON twin of a study's analysis page (the study's owner only)."""
    await owned_study(state, request, study_id, player)
    return fast_json((await analysis(request, state, study_id)).out)


@router.get("/analysis", response_class=HTMLResponse, include_in_schema=False)
async def analysis_page(request: Request, state: State) -> Response:
    return _page(request, state, await analysis(request, state, None), "/api/analysis")


@router.get("/studies/{study_id}/analysis", response_class=HTMLResponse, include_in_schema=False)
async def study_analysis_page(request: Request, study_id: str, state: State, player: PlayerId) -> Response:
    await owned_study(state, request, study_id, player)
    built = await analysis(request, state, study_id)
    return _page(request, state, built, f"/api/studies/{study_id}/analysis")
