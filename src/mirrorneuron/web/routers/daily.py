"""The daily unit: today's page and its JSON twin (with the day's board), and starting the day's game."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from mirrorneuron.web.deps import Csrf, MaybePlayer, PlayerId, State, adopt_player
from mirrorneuron.web.routers.common import R403, R403_LOCKED, fast_json
from mirrorneuron.web.routers.games import game_meta, game_view
from mirrorneuron.web.schemas.games import GameOut
from mirrorneuron.web.schemas.sharing import DailyOut
from mirrorneuron.web.services.daily import daily_view, start_daily

router = APIRouter(tags=["daily"], responses={**R403, **R403_LOCKED})


async def utc_today() -> date:
    """Today in UTC (a dependency: tests override it to play another day)."""
    return datetime.now(UTC).date()


Today = Annotated[date, Depends(utc_today)]


@router.get("/api/daily", response_model=DailyOut)
async def daily_api(state: State, player: MaybePlayer, day: Today) -> DailyOut:
    """Today's daily unit (UTC), your game of the day and the day's board of finished games (withheld while
    you have an unfinished game on the unit)."""
    return await daily_view(state, player, day)


@router.post("/api/daily", response_model=GameOut, status_code=201, dependencies=[Csrf], responses={200: {"model": GameOut}})
async def daily_start_api(request: Request, state: State, player: PlayerId, day: Today) -> Response:
    """Start your daily game (201), or get the one you started today (200): one daily game per player and day."""
    pid, game_id, created = await start_daily(state, player, day)
    adopt_player(request, player, pid)
    view = await game_view(state, await game_meta(state, game_id, pid))
    return fast_json(view, 201 if created else 200)


@router.get("/daily", response_class=HTMLResponse, include_in_schema=False)
async def daily_page(request: Request, state: State, player: PlayerId, day: Today) -> Response:
    data = await daily_view(state, player, day)
    return state.templates.TemplateResponse(request, "daily.html", {"daily": data})


@router.post("/daily", include_in_schema=False, dependencies=[Csrf])
async def daily_start_form(request: Request, state: State, player: PlayerId, day: Today) -> Response:
    """The daily page's button: to the day's game (new, or the one already started: it shows its result)."""
    pid, game_id, _ = await start_daily(state, player, day)
    adopt_player(request, player, pid)
    return RedirectResponse(f"/play/{game_id}", status_code=303)
