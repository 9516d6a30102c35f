"""Unit pages: stats, histogram, top examples, quantile bins, how players and bots do (403 while an open study
locks the unit)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from mirrorneuron.store import repo
from mirrorneuron.store.locks import ensure_unlocked
from mirrorneuron.store.scores import unit_scores
from mirrorneuron.types import UnitRef
from mirrorneuron.web.deps import AppState, MaybePlayer, PlayerId, State
from mirrorneuron.web.routers.common import R403_LOCKED, R404, or_404
from mirrorneuron.web.schemas.units import UnitOut
from mirrorneuron.web.services.players import has_open_game
from mirrorneuron.web.services.unitpage import build_unit_page, personalise

router = APIRouter(tags=["units"], responses={**R403_LOCKED, **R404})


async def unit_view(state: AppState, unit_id: str, player: str | None) -> UnitOut:
    unit_id = or_404(lambda: UnitRef.parse(unit_id).id)

    def live(s: Session) -> tuple[dict[str, object], bool, list[dict[str, object]]]:
        ensure_unlocked(s, unit_id)
        return repo.unit_play_stats(s, unit_id), has_open_game(s, player, unit_id), unit_scores(s, unit_id)

    stats, withheld, scores = await state.db.read(live)
    page = state.unit_pages.get(unit_id)
    if page is None:
        built = await run_in_threadpool(or_404, lambda: build_unit_page(state.units, unit_id, state.settings.bot_rounds))
        page = state.unit_pages.put(unit_id, built)
    return personalise(page, stats, withheld, scores)


@router.get("/api/units/{unit_id:path}", response_model=UnitOut)
async def unit_api(unit_id: str, state: State, player: MaybePlayer) -> UnitOut:
    """JSON twin of the unit page (``unit_id`` like ``tiny-gelu/blocks.0.mlp.post/neuron/3``)."""
    return await unit_view(state, unit_id, player)


@router.get("/units/{unit_id:path}", response_class=HTMLResponse, include_in_schema=False)
async def unit_page(request: Request, unit_id: str, state: State, player: PlayerId) -> Response:
    page = await unit_view(state, unit_id, player)
    return state.templates.TemplateResponse(request, "unit.html", {"unit": page})
