"""Leaderboards: per unit and level (403 while an open study locks the unit: scores and correlations are
computed from its values), and per level across units (insight points of finished games, with the points
formula's version). The daily board is on the daily page (``routers.daily``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from mirrorneuron.game.scoring import POINTS_VERSION
from mirrorneuron.store import repo
from mirrorneuron.store.boards import level_board
from mirrorneuron.store.locks import ensure_unlocked
from mirrorneuron.types import UnitRef
from mirrorneuron.web.deps import AppState, MaybePlayer, PlayerId, State
from mirrorneuron.web.routers.common import R403_LOCKED, R404, or_404
from mirrorneuron.web.schemas.sharing import LevelBoardOut, LevelRow
from mirrorneuron.web.schemas.units import LeaderboardOut, LeaderRow
from mirrorneuron.web.services.games import all_levels, level_out
from mirrorneuron.web.services.players import has_open_game

router = APIRouter(tags=["leaderboard"], responses={**R403_LOCKED, **R404})
Level = Annotated[int, Query(ge=0, le=3, description="0 blind, 1 examples, 2 neighbours, 3 weights")]
Limit = Annotated[int, Query(ge=1, le=200)]


async def board(state: AppState, unit_id: str, level: int, limit: int, player: str | None) -> LeaderboardOut:
    unit_id = or_404(lambda: UnitRef.parse(unit_id).id)

    def load(s: Session) -> tuple[list[dict[str, Any]], bool]:
        ensure_unlocked(s, unit_id)
        return repo.leaderboard(s, unit_id, level, limit), has_open_game(s, player, unit_id)

    rows, withheld = await state.db.read(load)
    return LeaderboardOut(
        unit_id=unit_id, level=level, rows=[] if withheld else [LeaderRow(**r) for r in rows], withheld=withheld
    )


async def points_board(state: AppState, level: int, limit: int) -> LevelBoardOut:
    rows = await state.db.read(level_board, level, limit)
    return LevelBoardOut(level=level_out(level), points_version=POINTS_VERSION, rows=[LevelRow(**r) for r in rows])


@router.get("/api/leaderboard", response_model=LevelBoardOut)
async def level_board_api(state: State, level: Level = 1, limit: Limit = 20) -> LevelBoardOut:
    """Players ranked by the insight points of their finished games at the level, on every unit (at least 3
    rounds to be listed); only points of the current formula (``points_version``) count."""
    return await points_board(state, level, limit)


@router.get("/leaderboard", response_class=HTMLResponse, include_in_schema=False)
async def level_board_page(request: Request, state: State, _player: PlayerId, level: Level = 1, limit: Limit = 20) -> Response:
    data = await points_board(state, level, limit)
    return state.templates.TemplateResponse(request, "leaderboard.html", {"points": data, "all_levels": all_levels()})


@router.get("/api/leaderboard/{unit_id:path}", response_model=LeaderboardOut)
async def leaderboard_api(
    unit_id: str, state: State, player: MaybePlayer, level: Level = 1, limit: Limit = 20
) -> LeaderboardOut:
    """Players ranked by mean round score on the unit at the level (at least 3 guesses to be listed).
    Withheld while you have an unfinished game on the unit (scores moving after each guess would tell)."""
    return await board(state, unit_id, level, limit, player)


@router.get("/leaderboard/{unit_id:path}", response_class=HTMLResponse, include_in_schema=False)
async def leaderboard_page(
    request: Request, unit_id: str, state: State, player: PlayerId, level: Level = 1, limit: Limit = 20
) -> Response:
    data = await board(state, unit_id, level, limit, player)
    return state.templates.TemplateResponse(request, "leaderboard.html", {"board": data, "all_levels": all_levels()})
