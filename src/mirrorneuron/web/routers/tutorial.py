"""The one-minute tutorial: a real game on an obvious unit (stored and scored like every play), skippable,
remembered per player (``players.tutorial_done_at``), ending with the player's points against the mean bot."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import Field
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from mirrorneuron.game.scoring import POINTS_VERSION
from mirrorneuron.store.tutorial import (
    TUTORIAL_POLICY,
    is_tutorial_game,
    mark_tutorial_done,
    open_tutorial_game,
    tutorial_done_at,
)
from mirrorneuron.web.deps import AppState, Csrf, PlayerId, State
from mirrorneuron.web.routers.common import R403, R404, R409, or_422
from mirrorneuron.web.routers.games import game_meta, game_view, start_game
from mirrorneuron.web.schemas.common import Strict
from mirrorneuron.web.schemas.games import GameOut, NewGame
from mirrorneuron.web.schemas.progress import TutorialOut, TutorialResultOut
from mirrorneuron.web.services.games import all_levels
from mirrorneuron.web.services.tutorial import RULE, TUTORIAL_LEVEL, TUTORIAL_ROUNDS, points_vs_mean_bot, tutorial_unit

router = APIRouter(tags=["tutorial"], responses={**R403, **R404})


class FinishIn(Strict):
    game_id: str = Field(min_length=1, max_length=32, description="the tutorial game you played to the end")


async def tutorial_view(state: AppState, player: str) -> TutorialOut:
    def load(s: Session) -> tuple[str | None, str | None]:
        done = tutorial_done_at(s, player)
        return (None if done is None else done.isoformat()), open_tutorial_game(s, player)

    done_at, game_id = await state.db.read(load)
    unit = await run_in_threadpool(or_422, lambda: tutorial_unit(state.units))
    return TutorialOut(
        offered=done_at is None,
        done_at=done_at,
        unit_id=unit,
        rule=RULE,
        level=TUTORIAL_LEVEL,
        rounds=TUTORIAL_ROUNDS,
        levels=all_levels(),
        game_id=game_id,
    )


@router.get("/api/tutorial", response_model=TutorialOut)
async def tutorial_api(state: State, player: PlayerId) -> TutorialOut:
    """JSON twin of the tutorial page: whether it is still offered to you, its unit and an unfinished game."""
    return await tutorial_view(state, player)


@router.post("/api/tutorial", response_model=GameOut, status_code=201, dependencies=[Csrf])
async def start_tutorial(request: Request, state: State, player: PlayerId) -> GameOut:
    """Start (or resume) your tutorial game: a stored level-1 game on the tutorial unit."""
    game_id = await state.db.read(open_tutorial_game, player)
    if game_id is None:
        unit = await run_in_threadpool(or_422, lambda: tutorial_unit(state.units))
        spec = NewGame(model=None, unit=unit, level=TUTORIAL_LEVEL, rounds=TUTORIAL_ROUNDS, seed=None)
        game_id = await start_game(request, state, player, spec, policy=TUTORIAL_POLICY)
    return await game_view(state, await game_meta(state, game_id, request.state.player_id))


@router.post("/api/tutorial/skip", response_model=TutorialOut, dependencies=[Csrf])
async def skip_api(state: State, player: PlayerId) -> TutorialOut:
    """Skip the tutorial: it is not offered again."""
    await state.db.write(mark_tutorial_done, player)
    return await tutorial_view(state, player)


@router.post("/api/tutorial/finish", response_model=TutorialResultOut, dependencies=[Csrf], responses=R409)
async def finish_api(body: FinishIn, state: State, player: PlayerId) -> TutorialResultOut:
    """After the last round of your tutorial game: your insight points against the mean bot's on the same
    rounds (409 until every round is answered); the tutorial is then done."""
    if not await state.db.read(is_tutorial_game, body.game_id, player):
        raise HTTPException(404, f"no tutorial game {body.game_id!r} of yours")
    view = await game_view(state, await game_meta(state, body.game_id, player))
    summary = view.summary
    if summary is None:
        raise HTTPException(409, f"the tutorial is not finished ({view.n_answered}/{view.n_rounds} rounds answered)")
    points, mean_points, max_points = or_422(lambda: points_vs_mean_bot(summary))
    done = await state.db.write(mark_tutorial_done, player)
    return TutorialResultOut(
        game_id=body.game_id,
        n_rounds=view.n_rounds,
        points=points,
        max_points=max_points,
        mean_bot_points=mean_points,
        beat_mean_bot=points > mean_points,
        points_version=POINTS_VERSION,
        done_at=done.isoformat(),
    )


@router.get("/tutorial", response_class=HTMLResponse, include_in_schema=False)
async def tutorial_page(request: Request, state: State, player: PlayerId) -> Response:
    view = await tutorial_view(state, player)
    return state.templates.TemplateResponse(request, "tutorial.html", {"tutorial": view})


@router.post("/tutorial/skip", include_in_schema=False, dependencies=[Csrf])
async def skip_form(state: State, player: PlayerId) -> Response:
    """The home banner's "No thanks" (works without JavaScript)."""
    await state.db.write(mark_tutorial_done, player)
    return RedirectResponse("/", status_code=303)
