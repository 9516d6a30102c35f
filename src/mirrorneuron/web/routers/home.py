"""The home page: pick a model and unit (or a surprise) and a level; the form starts a game."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from mirrorneuron.config import settings
from mirrorneuron.gameplay.serving import has_played
from mirrorneuron.store.tutorial import tutorial_done_at
from mirrorneuron.web.deps import Csrf, PlayerId, State
from mirrorneuron.web.routers.games import start_game
from mirrorneuron.web.routers.models import list_models
from mirrorneuron.web.schemas.games import NewGame
from mirrorneuron.web.schemas.models import HomeOut
from mirrorneuron.web.services.games import all_levels

router = APIRouter(tags=["home"])


async def home_data(state: State) -> HomeOut:
    """Every ready model, and the built-in / registered ones that are not ready yet (with their install hint);
    untrained zoo entries stay in ``/api/models`` (``mirrorneuron zoo train`` makes them ready)."""
    models = [m for m in await run_in_threadpool(list_models, state.units) if m.ready or m.kind != "zoo"]
    default = settings().default_text_model
    ready = [m.name for m in models if m.ready]
    return HomeOut(
        models=models,
        levels=all_levels(),
        default_model=default if default in ready else (ready[0] if ready else ""),
        default_level=1,
        default_rounds=10,
    )


@router.get("/api/home", response_model=HomeOut)
async def home_api(state: State) -> HomeOut:
    """JSON twin of the home page."""
    return await home_data(state)


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def home_page(request: Request, state: State, player: PlayerId) -> Response:
    data = await home_data(state)
    offer_tutorial = await state.db.read(tutorial_done_at, player) is None
    first_time = not await state.db.read(has_played, player)  # a surprise starts them on an easy unit
    q = request.query_params
    chosen = {
        "model": q.get("model") or data.default_model,
        "unit": q.get("unit") or "",
        "level": q.get("level") or str(data.default_level),
        "rounds": q.get("rounds") or str(data.default_rounds),
    }
    return state.templates.TemplateResponse(
        request, "home.html", {"home": data, "chosen": chosen, "offer_tutorial": offer_tutorial, "first_time": first_time}
    )


@router.post("/play", include_in_schema=False, dependencies=[Csrf])
async def start_from_form(
    request: Request,
    state: State,
    player: PlayerId,
    model: Annotated[str, Form()],
    level: Annotated[int, Form()] = 1,
    rounds: Annotated[int, Form()] = 10,
    unit: Annotated[str, Form()] = "",
    surprise: Annotated[str, Form()] = "",
) -> Response:
    """The home form: creates the game and sends the browser to its play page."""
    try:
        spec = NewGame.model_validate(
            {"model": model, "unit": None if surprise or not unit.strip() else unit.strip(), "level": level, "rounds": rounds}
        )
    except ValidationError as e:
        raise HTTPException(422, "; ".join(f"{'.'.join(map(str, x['loc']))}: {x['msg']}" for x in e.errors())) from None
    game_id = await start_game(request, state, player, spec)
    return RedirectResponse(f"/play/{game_id}", status_code=303)
