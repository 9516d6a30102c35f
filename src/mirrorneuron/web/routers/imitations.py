"""The imitation rule editor: page, live preview on reference examples, save (held-out score), versions.

Registered before the units router: ``/units/{unit_id:path}`` would otherwise swallow ``…/imitate``.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from mirrorneuron.buildout.rules import RuleError
from mirrorneuron.store.locks import ensure_unlocked
from mirrorneuron.types import UnitRef, UserError
from mirrorneuron.web.deps import Csrf, PlayerId, State
from mirrorneuron.web.routers.common import R403, R403_LOCKED, R404, or_404
from mirrorneuron.web.schemas.imitations import ImitationOut, ImitationsOut, PreviewOut, RuleIn, RuleProblem
from mirrorneuron.web.services import imitations as svc
from mirrorneuron.web.services.players import has_open_game

router = APIRouter(tags=["imitations"], responses={**R403, **R403_LOCKED, **R404, 422: {"model": RuleProblem}})
SPOILER = "finish your game on this unit first (a rule's scores would hint at its answers)"


def _unit(unit_id: str) -> str:
    return or_404(lambda: UnitRef.parse(unit_id).id)


def _problem(e: RuleError) -> JSONResponse:
    return JSONResponse({"detail": str(e), "line": e.line, "col": e.col}, status_code=422)


async def _allowed(state: State, unit_id: str, player: str) -> None:
    def check(s: Session) -> bool:
        ensure_unlocked(s, unit_id)
        return has_open_game(s, player, unit_id)

    if await state.db.read(check):
        raise HTTPException(403, SPOILER)


@router.post("/api/units/{unit_id:path}/imitation/preview", response_model=PreviewOut, dependencies=[Csrf])
async def preview_api(unit_id: str, body: RuleIn, state: State, player: PlayerId) -> Response | PreviewOut:
    """The rule's predictions vs the true values on the unit's level-1 reference examples only."""
    uid = _unit(unit_id)
    await _allowed(state, uid, player)
    rules = await state.db.read(lambda s: svc.latest_rules(s, player))
    try:
        return await run_in_threadpool(svc.preview, state.units, uid, body.source, rules)
    except RuleError as e:
        return _problem(e)
    except UserError as e:  # unknown model, site or unit
        raise HTTPException(404, str(e)) from None


@router.post("/api/units/{unit_id:path}/imitations", response_model=ImitationOut, status_code=201,
             dependencies=[Csrf])
async def save_api(unit_id: str, body: RuleIn, state: State, player: PlayerId) -> Response | ImitationOut:
    """Save the rule as your next version of this unit's imitation; answers with its held-out scores."""
    uid = _unit(unit_id)
    await _allowed(state, uid, player)
    await run_in_threadpool(or_404, lambda: state.units.context(uid))  # unknown unit → 404 before any write
    try:
        return await state.db.write(lambda s: svc.save(state.units, s, uid, player, body.source), threaded=True)
    except RuleError as e:
        return _problem(e)


@router.get("/api/units/{unit_id:path}/imitations", response_model=ImitationsOut)
async def versions_api(unit_id: str, state: State, player: PlayerId) -> ImitationsOut:
    """JSON twin of the editor's history: your saved versions of this unit's imitation, oldest first."""
    uid = _unit(unit_id)
    return ImitationsOut(unit_id=uid, imitations=await state.db.read(lambda s: svc.versions(s, uid, player)))


@router.get("/units/{unit_id:path}/imitate", response_class=HTMLResponse, include_in_schema=False)
async def editor_page(request: Request, unit_id: str, state: State, player: PlayerId) -> Response:
    uid = _unit(unit_id)
    ctx = await run_in_threadpool(or_404, lambda: state.units.context(uid))
    saved = await state.db.read(lambda s: svc.versions(s, uid, player))
    return state.templates.TemplateResponse(
        request,
        "imitate.html",
        {"unit_id": uid, "modality": ctx.modality, "versions": saved, "start": saved[-1].source if saved else ""},
    )
