"""Players: who am I (and my CSRF token), a display name, a player's history page and (for yourself) your
progression: mastered units, progress to mastery, learning curves."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from mirrorneuron.store import repo
from mirrorneuron.web.deps import AppState, Csrf, MaybePlayer, PlayerId, State, adopt_player
from mirrorneuron.web.routers.common import R403, R404
from mirrorneuron.web.schemas.progress import ProgressOut
from mirrorneuron.web.schemas.units import HistoryGame, MeOut, NameIn, PlayerOut
from mirrorneuron.web.services.players import progress_view

router = APIRouter(tags=["players"], responses={**R403, **R404})


async def me(request: Request, state: AppState, player: str) -> MeOut:
    def load(s: Session) -> tuple[str, str | None]:
        p = repo.ensure_player(s, player)
        return p.id, p.display_name

    pid, name = await state.db.write(load)
    adopt_player(request, player, pid)
    return MeOut(player_id=pid, display_name=name, csrf_token=state.keys.csrf_token(pid))


async def set_name(request: Request, state: AppState, player: str, name: str) -> MeOut:
    def save(s: Session) -> None:
        repo.ensure_player(s, player)
        repo.set_display_name(s, player, name)

    try:
        await state.db.write(save)
    except ValueError as e:
        raise HTTPException(422, str(e)) from None
    return await me(request, state, player)


def history_game(g: dict[str, Any]) -> HistoryGame:
    return HistoryGame(
        **{k: g[k] for k in ("game_id", "unit_id", "level", "feedback", "practice", "study_id", "rounds", "answered")},
        mean_score=g["mean_score"] if g["feedback"] else None,
        created_at=g["created_at"].isoformat(),
    )


async def player_view(state: AppState, player_id: str, viewer: str | None) -> PlayerOut:
    def load(s: Session) -> tuple[str, list[dict[str, Any]]]:
        p = repo.get_player(s, player_id)
        if p is None:
            raise repo.NotFound(f"no player {player_id!r}")
        return repo.player_label(p.id, p.display_name), repo.player_history(s, player_id)

    name, games = await state.db.read(load)
    return PlayerOut(player_id=player_id, name=name, is_you=player_id == viewer, games=[history_game(g) for g in games])


@router.get("/api/players/me", response_model=MeOut)
async def me_api(request: Request, state: State, player: PlayerId) -> MeOut:
    """The cookie's player (made on first visit) and the CSRF token for API POSTs."""
    return await me(request, state, player)


@router.post("/api/players/me/name", response_model=MeOut, dependencies=[Csrf])
async def name_api(request: Request, body: NameIn, state: State, player: PlayerId) -> MeOut:
    """Set your display name (1–40 printable characters) for leaderboards."""
    return await set_name(request, state, player, body.name)


@router.get("/api/players/me/progress", response_model=ProgressOut)
async def progress_api(state: State, player: PlayerId) -> ProgressOut:
    """JSON twin of your profile's progress: mastery per unit and level, unlocks, learning curves (yours only)."""
    return await state.db.read(progress_view, player, state.settings.progression)


@router.get("/api/players/{player_id}", response_model=PlayerOut)
async def player_api(player_id: str, state: State, viewer: MaybePlayer) -> PlayerOut:
    """JSON twin of a player's history page."""
    return await player_view(state, player_id, viewer)


@router.get("/me", include_in_schema=False)
async def me_page(player: PlayerId) -> Response:
    return RedirectResponse(f"/players/{player}", status_code=303)


@router.post("/players/me/name", include_in_schema=False, dependencies=[Csrf])
async def name_form(
    request: Request, state: State, player: PlayerId, name: Annotated[str, Form(max_length=200)]
) -> Response:
    await set_name(request, state, player, name)
    return RedirectResponse(f"/players/{request.state.player_id}", status_code=303)


@router.get("/players/{player_id}", response_class=HTMLResponse, include_in_schema=False)
async def player_page(request: Request, player_id: str, state: State, viewer: PlayerId) -> Response:
    data = await player_view(state, player_id, viewer)
    progress = await state.db.read(progress_view, player_id, state.settings.progression) if data.is_you else None
    return state.templates.TemplateResponse(request, "player.html", {"player": data, "progress": progress})
