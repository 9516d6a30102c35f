"""Share links: make one for your finished game, and the shared page with its JSON twin (totals only)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response

from mirrorneuron.web.deps import MaybePlayer, State
from mirrorneuron.web.routers.common import R403, R404, R409
from mirrorneuron.web.routers.games import game_meta, game_view
from mirrorneuron.web.schemas.sharing import ShareLinkOut, ShareOut
from mirrorneuron.web.services.share import game_of_token, share_token, share_view

router = APIRouter(tags=["share"], responses={**R403, **R404})


@router.get("/api/games/{game_id}/share", response_model=ShareLinkOut, responses=R409)
async def share_link(game_id: str, state: State, player: MaybePlayer) -> ShareLinkOut:
    """The share link of your finished game (409 before its last round; 403 for a game without feedback)."""
    meta = await game_meta(state, game_id, player)
    view = await game_view(state, meta)  # stores the bots' plays on its rounds, which the shared page shows
    if not view.done:
        raise HTTPException(409, f"finish the game first ({view.n_answered}/{view.n_rounds} rounds answered)")
    if not meta.feedback or meta.practice:
        raise HTTPException(403, "only ranked games with feedback can be shared")
    token = share_token(state.keys, game_id)
    return ShareLinkOut(token=token, url=f"/share/{token}")


async def shared(state: State, token: str, viewer: str | None) -> ShareOut:
    game_id = game_of_token(state.keys, token)
    return await state.db.read(share_view, game_id, viewer)


@router.get("/api/share/{token}", response_model=ShareOut)
async def share_api(token: str, state: State, player: MaybePlayer) -> ShareOut:
    """JSON twin of a shared game's page: the player's totals against the others' and the bots'."""
    return await shared(state, token, player)


@router.get("/share/{token}", response_class=HTMLResponse, include_in_schema=False)
async def share_page(request: Request, token: str, state: State, player: MaybePlayer) -> Response:
    data = await shared(state, token, player)
    return state.templates.TemplateResponse(
        request, "share.html", {"share": data, "page_url": str(request.url)}
    )
