"""Studies: create (form or API, YAML or JSON), progress, export, and the shareable link that starts them."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from mirrorneuron.gameplay import store_game
from mirrorneuron.store import export, repo
from mirrorneuron.store.history import shown_rounds
from mirrorneuron.store.locks import locking_study
from mirrorneuron.store.repo import StudyConfig
from mirrorneuron.store.studies import close_study as store_close_study
from mirrorneuron.store.studies import participants
from mirrorneuron.web.deps import AppState, Csrf, MaybePlayer, PlayerId, State, adopt_player
from mirrorneuron.web.routers.common import R403, R404, or_422
from mirrorneuron.web.schemas.studies import ClosedOut, InviteOut, ProgressOut, StudyGameOut, StudyOut
from mirrorneuron.web.services.studies import check_config, next_study_game, prepare_study_games, study_games

router = APIRouter(tags=["studies"], responses={**R403, **R404})
MAX_CONFIG_BYTES = 200_000
CONFIG_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/StudyConfig"}},  # listed via StudyOut
            "application/yaml": {"schema": {"type": "string", "description": "the same fields as YAML"}},
        },
    }
}
MEDIA = {"parquet": "application/vnd.apache.parquet", "csv": "text/csv; charset=utf-8"}


async def create(request: Request, state: AppState, player: str, text: str) -> str:
    config = or_422(lambda: StudyConfig.from_text(text))
    await run_in_threadpool(or_422, lambda: check_config(state.units, config))

    def save(s: Session) -> tuple[str, str]:
        pid = repo.ensure_player(s, player).id
        return pid, repo.create_study(s, config, pid).id

    pid, study_id = await state.db.write(save)
    adopt_player(request, player, pid)
    return study_id


async def owned_study(state: AppState, request: Request, study_id: str, player: str | None) -> StudyOut:
    def load(s: Session) -> tuple[Any, dict[str, Any]]:
        study = repo.get_study(s, study_id)
        if study is None:
            raise repo.NotFound(f"no study {study_id!r}")
        return study, repo.study_progress(s, study_id)

    study, progress = await state.db.read(load)
    if player is None or study.owner_id != player:
        raise HTTPException(403, "only the study's owner sees its progress and results")
    base = str(request.base_url)
    return StudyOut(
        study_id=study.id,
        name=study.name,
        share_url=f"{base}s/{study.id}",
        export_parquet_url=f"{base}api/studies/{study.id}/export.parquet",
        export_csv_url=f"{base}api/studies/{study.id}/export.csv",
        config=repo.study_config(study),
        progress=ProgressOut.model_validate({k: v for k, v in progress.items() if k not in ("study_id", "name")}),
    )


@router.post("/api/studies", response_model=StudyOut, status_code=201, dependencies=[Csrf], openapi_extra=CONFIG_BODY)
async def create_study(request: Request, state: State, player: PlayerId) -> StudyOut:
    """Create a study from its config as JSON (``application/json``) or YAML (``application/yaml``)."""
    body = await request.body()
    if len(body) > MAX_CONFIG_BYTES:
        raise HTTPException(413, "study config is too large")
    study_id = await create(request, state, player, body.decode("utf-8", errors="replace"))
    return await owned_study(state, request, study_id, request.state.player_id)


@router.get("/api/studies/{study_id}", response_model=StudyOut)
async def get_study(request: Request, study_id: str, state: State, player: MaybePlayer) -> StudyOut:
    """JSON twin of the progress page (owner only)."""
    return await owned_study(state, request, study_id, player)


@router.get(
    "/api/studies/{study_id}/export.{fmt}",
    response_class=Response,
    responses={200: {"content": {m: {} for m in MEDIA.values()}, "description": "one row per guess"}},
)
async def export_study(
    request: Request, study_id: str, fmt: Literal["parquet", "csv"], state: State, player: MaybePlayer
) -> Response:
    """Every guess of the study joined with rounds, units and players, as Parquet or CSV (owner only)."""
    await owned_study(state, request, study_id, player)

    def write(s: Session) -> bytes:
        with tempfile.TemporaryDirectory() as tmp:
            path = export.write_export(export.guesses_table(s, study_id), Path(tmp) / f"export.{fmt}", fmt)
            return path.read_bytes()

    data = await state.db.read(write, threaded=True)
    headers = {"Content-Disposition": f'attachment; filename="study-{study_id}.{fmt}"'}
    return Response(data, media_type=MEDIA[fmt], headers=headers)


async def invite(state: AppState, study_id: str, player: str | None) -> InviteOut:
    def load(s: Session) -> tuple[StudyConfig, list[dict[str, Any]], str | None]:
        study = repo.get_study(s, study_id)
        if study is None:
            raise repo.NotFound(f"no study {study_id!r}")
        games = study_games(s, player, study_id) if player else []
        return repo.study_config(study), games, next_study_game(s, player, study_id) if player else None

    config, games, nxt = await state.db.read(load)
    return InviteOut(
        study_id=study_id,
        name=config.name,
        feedback=config.feedback,
        n_units=len(config.units),
        levels=config.levels,
        rounds_per_unit=config.rounds_per_unit,
        practice_rounds=config.practice_rounds,
        joined=bool(games),
        games=[StudyGameOut.model_validate({k: g[k] for k in StudyGameOut.model_fields}) for g in games],
        next_game_id=nxt,
    )


def load_config(s: Session, study_id: str) -> StudyConfig:
    study = repo.get_study(s, study_id)
    if study is None:
        raise repo.NotFound(f"no study {study_id!r}")
    return repo.study_config(study)


async def join(request: Request, state: AppState, study_id: str, player: str) -> InviteOut:
    """Create this player's games of the study (once; joining again changes nothing)."""
    current = await invite(state, study_id, player)
    if current.joined:
        return current
    def load(s: Session) -> tuple[StudyConfig, int, dict[str, list[tuple[str, int, int]]]]:
        config = load_config(s, study_id)
        models = {u.split("/")[0] for u in config.units}
        return config, participants(s, study_id), {m: shown_rounds(s, player, m) for m in models}

    config, participant, shown = await state.db.read(load)
    prepared = await run_in_threadpool(or_422, lambda: prepare_study_games(state.units, config, participant, shown))

    def save(s: Session) -> str:
        pid = repo.ensure_player(s, player).id
        if study_games(s, pid, study_id):  # joined meanwhile (double click)
            return pid
        for game, practice in prepared:
            store_game(s, pid, game, True if practice else config.feedback, study_id=study_id, practice=practice)
        return pid

    pid = await state.db.write(save, threaded=True)
    adopt_player(request, player, pid)
    return await invite(state, study_id, pid)


@router.get("/api/s/{study_id}", response_model=InviteOut)
async def invite_api(study_id: str, state: State, player: MaybePlayer) -> InviteOut:
    """JSON twin of the shared link: the study and this player's games in it."""
    return await invite(state, study_id, player)


@router.post("/api/s/{study_id}", response_model=InviteOut, dependencies=[Csrf])
async def join_api(request: Request, study_id: str, state: State, player: PlayerId) -> InviteOut:
    """Join the study: creates the practice game and one game per unit × level, in playing order."""
    return await join(request, state, study_id, player)


@router.post("/api/studies/{study_id}/close", response_model=ClosedOut, dependencies=[Csrf])
async def close_study(study_id: str, state: State, player: MaybePlayer) -> ClosedOut:
    """Close the study (owner only): its units unlock. Closing a closed study changes nothing."""

    def close(s: Session) -> ClosedOut:
        study = repo.get_study(s, study_id)
        if study is None:
            raise repo.NotFound(f"no study {study_id!r}")
        if player is None or study.owner_id != player:
            raise repo.Forbidden("only the study's owner can close it")
        closed = store_close_study(s, study_id)
        assert closed.closed_at is not None
        units = [u for u in repo.study_config(closed).units if locking_study(s, u) is None]
        return ClosedOut(study_id=study_id, closed_at=closed.closed_at.isoformat(), unlocked_units=units)

    return await state.db.write(close)


# --- pages --------------------------------------------------------------------------------------------
@router.get("/studies/new", response_class=HTMLResponse, include_in_schema=False)
async def new_page(request: Request, state: State, _player: PlayerId) -> Response:
    return state.templates.TemplateResponse(request, "study_new.html", {"error": None, "text": ""})


@router.post("/studies", include_in_schema=False, dependencies=[Csrf])
async def create_from_form(
    request: Request,
    state: State,
    player: PlayerId,
    config: Annotated[str, Form(max_length=MAX_CONFIG_BYTES)] = "",
    file: Annotated[UploadFile | None, File()] = None,
) -> Response:
    text = config
    if file is not None and file.filename:
        text = (await file.read(MAX_CONFIG_BYTES + 1)).decode("utf-8", errors="replace")
    try:
        study_id = await create(request, state, player, text)
    except HTTPException as e:
        ctx = {"error": e.detail, "text": text}
        return state.templates.TemplateResponse(request, "study_new.html", ctx, status_code=e.status_code)
    return RedirectResponse(f"/studies/{study_id}", status_code=303)


@router.get("/studies/{study_id}", response_class=HTMLResponse, include_in_schema=False)
async def progress_page(request: Request, study_id: str, state: State, player: PlayerId) -> Response:
    study = await owned_study(state, request, study_id, player)
    return state.templates.TemplateResponse(request, "study.html", {"study": study})


@router.get("/s/{study_id}", response_class=HTMLResponse, include_in_schema=False)
async def invite_page(request: Request, study_id: str, state: State, player: PlayerId) -> Response:
    data = await invite(state, study_id, player)
    return state.templates.TemplateResponse(request, "invite.html", {"invite": data})


@router.post("/s/{study_id}", include_in_schema=False, dependencies=[Csrf])
async def join_page(request: Request, study_id: str, state: State, player: PlayerId) -> Response:
    data = await join(request, state, study_id, player)
    target = f"/play/{data.next_game_id}" if data.next_game_id else f"/s/{study_id}"
    return RedirectResponse(target, status_code=303)
