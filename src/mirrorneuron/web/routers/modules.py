"""The module view (a layer or a found module: who imitated what, loss recovered, the next unit), its JSON
twin, and campaign mode (play the suggested unit, imitate it, see the next suggestion)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from mirrorneuron.config import settings
from mirrorneuron.gameplay.modules import UnitSet, load_imitations
from mirrorneuron.web.deps import AppState, Csrf, MaybePlayer, PlayerId, State
from mirrorneuron.web.routers.common import R403, R404, or_404
from mirrorneuron.web.routers.games import start_game
from mirrorneuron.web.schemas.games import NewGame
from mirrorneuron.web.schemas.modules import CampaignIn, CampaignOut, CampaignStartOut, ModuleViewOut
from mirrorneuron.web.services import modules as svc

router = APIRouter(tags=["modules"], responses={**R404, 422: {"description": "neither or both of site and module"}})
Site = Annotated[str | None, Query(max_length=200, description="a layer: every unit of this site")]
Module = Annotated[int | None, Query(ge=0, le=1000, description="a found module's number")]
K = Annotated[int | None, Query(ge=2, le=64, description="number of modules (default: best modularity)")]
Order = Annotated[str, Query(pattern="^(written|best)$", description="curve order")]


async def _set(state: AppState, model: str, site: str | None, module: int | None, k: int | None) -> UnitSet:
    if (site is None) == (module is None):
        raise HTTPException(422, "choose a layer (?site=SITE) or a module (?module=K), not both or neither")
    return await run_in_threadpool(or_404, lambda: svc.unit_set(state.units, model, site, module, k))


async def _view(state: AppState, uset: UnitSet, player: str | None, order: str, k: int | None) -> ModuleViewOut:
    imitations = await state.db.read(lambda s: load_imitations(s, uset.ids, player))
    return await run_in_threadpool(svc.view, state.units, uset, imitations, order, k)


@router.get("/api/modules/{model}", response_model=ModuleViewOut)
async def module_api(
    model: str, state: State, site: Site = None, module: Module = None, k: K = None, order: Order = "written"
) -> ModuleViewOut:
    """JSON twin of the module page: units (who imitated them, held-out scores), the unit graph's links, the
    loss recovered as imitations are spliced in, the zero / mean / ridge baselines and the next unit."""
    return await _view(state, await _set(state, model, site, module, k), None, order, k)


async def _campaign(
    state: AppState, model: str, player: str, site: str | None, module: int | None, k: int | None
) -> CampaignOut:
    view = await _view(state, await _set(state, model, site, module, k), player, "written", k)
    uid = view.suggestion.unit_id
    return CampaignOut(
        view=view,
        imitated=sum(1 for u in view.units if u.imitated_by),
        total=len(view.units),
        play_url=f"/api/modules/{quote(model)}/campaign/start" if uid else None,
        imitate_url=f"/units/{uid}/imitate" if uid else None,
    )


@router.get("/api/modules/{model}/campaign", response_model=CampaignOut)
async def campaign_api(
    model: str, state: State, player: PlayerId, site: Site = None, module: Module = None, k: K = None
) -> CampaignOut:
    """Your campaign on the set: your imitations only, your curve so far and your next suggested unit."""
    return await _campaign(state, model, player, site, module, k)


@router.post(
    "/api/modules/{model}/campaign/start",
    response_model=CampaignStartOut,
    status_code=201,
    dependencies=[Csrf],
    responses=R403,
)
async def campaign_start(
    request: Request, model: str, body: CampaignIn, state: State, player: PlayerId
) -> CampaignStartOut:
    """Start a game on your campaign's suggested unit (the ordinary game start for a named unit)."""
    camp = await _campaign(state, model, player, body.site, body.module, body.k)
    uid = camp.view.suggestion.unit_id
    if uid is None:
        raise HTTPException(422, f"no unit to suggest: {camp.view.suggestion.reason}")
    game_id = await start_game(request, state, player, NewGame.model_validate({"unit": uid}))
    return CampaignStartOut(
        game_id=game_id, unit_id=uid, play_url=f"/play/{game_id}", imitate_url=f"/units/{uid}/imitate"
    )


async def _page(request: Request, state: AppState, model: str | None, **query: object) -> Response:
    params = {k: v for k, v in query.items() if v is not None}
    choices = None
    if model is not None and "site" not in params and "module" not in params:
        k = query.get("k")
        choices = await run_in_threadpool(or_404, lambda: svc.picker(state.units, model, k))  # type: ignore[arg-type]
    context = {"model": model, "query": params, "choices": choices, "default_model": settings().default_text_model}
    return state.templates.TemplateResponse(request, "modules.html", context)


@router.get("/modules", response_class=HTMLResponse, include_in_schema=False)
async def modules_index(request: Request, state: State, model: str | None = None) -> Response:
    return await _page(request, state, model)


@router.get("/modules/{model}", response_class=HTMLResponse, include_in_schema=False)
async def module_page(
    request: Request,
    model: str,
    state: State,
    player: MaybePlayer,
    site: Site = None,
    module: Module = None,
    k: K = None,
) -> Response:
    return await _page(request, state, model, site=site, module=module, k=k, mode="view")


@router.get("/modules/{model}/campaign", response_class=HTMLResponse, include_in_schema=False)
async def campaign_page(
    request: Request, model: str, state: State, player: PlayerId, site: Site = None, module: Module = None, k: K = None
) -> Response:
    return await _page(request, state, model, site=site, module=module, k=k, mode="campaign")
