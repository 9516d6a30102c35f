"""Games: start one (form or JSON), the play page and its JSON twin, the next round, the summary."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from mirrorneuron.config import settings
from mirrorneuron.game import SamplingPlan
from mirrorneuron.gameplay import PreparedGame, store_bot_plays, store_game
from mirrorneuron.gameplay.serving import DEFAULT_POLICY, Choice, choose_unit
from mirrorneuron.store import repo
from mirrorneuron.store.history import shown_rounds
from mirrorneuron.store.locks import ensure_unlocked, locked_units
from mirrorneuron.store.play import serve_round
from mirrorneuron.store.progress import ensure_level_open
from mirrorneuron.web.deps import AppState, Csrf, MaybePlayer, PlayerId, State, adopt_player
from mirrorneuron.web.routers.common import R403, R404, R409, fast_json, or_422
from mirrorneuron.web.routers.models import stored_modality
from mirrorneuron.web.schemas.games import GameOut, NewGame, NextRoundOut, SummaryOut
from mirrorneuron.web.services.games import level_out, new_seed, prepare_for_player
from mirrorneuron.web.services.memo import GameMeta, load_meta
from mirrorneuron.web.services.results import game_summary, result_out
from mirrorneuron.web.services.rounds import round_response
from mirrorneuron.web.services.studies import next_study_game
from mirrorneuron.web.services.tutorial import tutorial_unit

router = APIRouter(tags=["games"], responses={**R403, **R404})


async def start_game(request: Request, state: AppState, player: str, spec: NewGame, policy: str | None = None) -> str:
    """Build every round of the game now (so serving a round is one read), store it, return its id. A surprise
    game's unit is chosen by ``spec.policy`` (``gameplay.serving``; default ``matched``), never one an open study
    locks, and that policy's string is stored on the game; a named unit is stored with ``policy`` (None: the
    player's choice). The rounds skip every window the player was shown in earlier games on the model. With
    progression on, a level the player has not unlocked is refused (403, ``store.progress``)."""
    cache = state.units
    full = spec.unit is not None and spec.unit.count("/") >= 3
    model = spec.model or (spec.unit.split("/")[0] if full and spec.unit else settings().default_text_model)
    if spec.unit:
        if spec.policy is not None:
            raise HTTPException(422, "policy: a unit policy chooses surprise units; leave out unit or policy")
        unit_id = (await run_in_threadpool(or_422, lambda: cache.context(spec.unit or "", model))).unit_id
    else:
        candidates = await run_in_threadpool(or_422, lambda: cache.lively_units(model))
        seed = spec.seed if spec.seed is not None else new_seed()
        # with nothing known about any unit, a new player gets the tutorial's obvious unit (text models only)
        easy = (lambda: tutorial_unit(cache, model)) if cache.adapter(model).modality == "text" else None

        def serve(s: Session) -> Choice:
            policy = spec.policy or DEFAULT_POLICY
            return or_422(lambda: choose_unit(s, policy, candidates, seed, locked_units(s), player, easy))

        choice = await state.db.read(serve, threaded=True)
        unit_id, policy = choice.unit_id, choice.policy

    def history(s: Session) -> list[tuple[str, int, int]]:
        ensure_unlocked(s, unit_id)  # an open study's unit: its references and reveals would leak the study
        if state.settings.progression:
            ensure_level_open(s, player, unit_id, spec.level)
        return shown_rounds(s, player, model)

    shown = await state.db.read(history)

    def prepare() -> PreparedGame:
        seed = spec.seed if spec.seed is not None else new_seed()
        return prepare_for_player(
            cache, cache.context(unit_id), spec.level, spec.rounds, SamplingPlan(seed=seed), shown
        )

    game = await run_in_threadpool(or_422, prepare)

    def save(s: Session) -> tuple[str, str]:
        pid = repo.ensure_player(s, player).id
        return pid, store_game(s, pid, game, spec.feedback, policy=policy)

    pid, game_id = await state.db.write(save, threaded=True)
    adopt_player(request, player, pid)
    return game_id


async def game_meta(state: AppState, game_id: str, player: str | None) -> GameMeta:
    """The game's fixed facts (memoised); 403 unless ``player`` owns it."""
    meta = state.games.get(game_id)
    if meta is None:
        meta = state.games.put(game_id, await state.db.read(load_meta, game_id))
    if player is None or meta.player_id != player:
        raise HTTPException(403, "this game belongs to another player")
    return meta


async def game_view(state: AppState, meta: GameMeta) -> GameOut:
    pairs = await state.db.read(repo.game_results, meta.game_id)
    results = [result_out(r, g, meta.feedback) for r, g in pairs if g is not None]
    done = len(results) == len(pairs)
    summary = state.summaries.get(meta.game_id) if done else None
    if done and summary is None:
        built, plays = await run_in_threadpool(game_summary, state.units, meta, pairs)
        if plays:  # the bots' plays on these rounds are gameplay data too
            ids = {r.seq: r.id for r, _ in pairs}
            await state.db.write(lambda s: store_bot_plays(s, ids, plays), threaded=True)
        summary = state.summaries.put(meta.game_id, built)
    next_game = None
    if meta.study_id and done:
        next_game = await state.db.read(next_study_game, meta.player_id, meta.study_id)
    model = meta.unit_id.split("/")[0]
    return GameOut(
        game_id=meta.game_id,
        unit_id=meta.unit_id,
        model=model,
        modality=await state.db.read(stored_modality, model),
        level=level_out(meta.level),
        feedback=meta.feedback,
        practice=meta.practice,
        study_id=meta.study_id,
        n_rounds=len(pairs),
        n_answered=len(results),
        done=done,
        total_points=sum(r.points or 0.0 for r in results) if meta.feedback else None,
        results=results,
        summary=summary,
        next_game_id=next_game,
    )


@router.post("/api/games", response_model=GameOut, status_code=201, dependencies=[Csrf])
async def create_game(request: Request, spec: NewGame, state: State, player: PlayerId) -> GameOut:
    """Start a game for the cookie's player (send ``X-CSRF-Token``; see ``GET /api/players/me``)."""
    game_id = await start_game(request, state, player, spec)
    return await game_view(state, await game_meta(state, game_id, request.state.player_id))


@router.get("/api/games/{game_id}", response_model=GameOut)
async def get_game(game_id: str, state: State, player: MaybePlayer) -> GameOut:
    """JSON twin of the play page: the game, its answered rounds and (at the end) the summary."""
    return await game_view(state, await game_meta(state, game_id, player))


@router.get("/api/games/{game_id}/round", response_model=NextRoundOut)
async def next_round(game_id: str, state: State, player: MaybePlayer) -> Response:
    """The next unanswered round with its token (one indexed read), or ``done``."""
    meta = await game_meta(state, game_id, player)
    rnd = await state.db.read_conn(serve_round, game_id)
    if rnd is None:
        done = NextRoundOut(game_id=game_id, done=True, n_answered=meta.n_rounds, n_rounds=meta.n_rounds, round=None)
        return fast_json(done)
    return Response(round_response(game_id, meta.n_rounds, rnd), media_type="application/json")


@router.get("/api/games/{game_id}/summary", response_model=SummaryOut, responses=R409)
async def summary(game_id: str, state: State, player: MaybePlayer) -> SummaryOut:
    """The end-of-game summary (409 until every round is answered)."""
    view = await game_view(state, await game_meta(state, game_id, player))
    if view.summary is None:
        raise HTTPException(409, f"the game is not finished ({view.n_answered}/{view.n_rounds} rounds answered)")
    return view.summary


@router.get("/play/{game_id}", response_class=HTMLResponse, include_in_schema=False)
async def play_page(request: Request, game_id: str, state: State, player: PlayerId) -> Response:
    view = await game_view(state, await game_meta(state, game_id, player))
    return state.templates.TemplateResponse(request, "play.html", {"game": view})
