"""The daily unit on the web side: today's unit from the deployment's secret, starting (or finding) a
player's game of the day, and the day's page data with its board."""

from __future__ import annotations

from datetime import date

from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from mirrorneuron.config import settings
from mirrorneuron.game.scoring import POINTS_VERSION
from mirrorneuron.gameplay.daily import Daily, choose_daily, daily_seed, find_daily_game, prepare_daily, store_daily
from mirrorneuron.store import repo
from mirrorneuron.store.boards import daily_board
from mirrorneuron.store.locks import ensure_unlocked, locked_units
from mirrorneuron.web.deps import AppState
from mirrorneuron.web.routers.common import or_422
from mirrorneuron.web.schemas.sharing import DailyOut, GameTotal
from mirrorneuron.web.services.games import level_out
from mirrorneuron.web.services.players import has_open_game
from mirrorneuron.web.services.share import share_token


async def daily_of(state: AppState, day: date) -> Daily:
    """The unit and seed of ``day`` (a lively unit of the default text model no open study locks)."""
    seed = daily_seed(state.keys.digest("daily", day.isoformat()))
    locked = await state.db.read(locked_units)
    model = settings().default_text_model
    return await run_in_threadpool(or_422, lambda: choose_daily(day, seed, lambda k: state.units.random_unit(model, k), locked))


async def start_daily(state: AppState, player: str, day: date) -> tuple[str, str, bool]:
    """The player's daily game of ``day``, made on the first call: (player id, game id, whether it is new)."""
    daily = await daily_of(state, day)
    existing = await state.db.read(find_daily_game, player, day)
    if existing is not None:
        return player, existing, False
    await state.db.read(ensure_unlocked, daily.unit_id)
    ctx = await run_in_threadpool(state.units.context, daily.unit_id)
    game = await run_in_threadpool(or_422, lambda: prepare_daily(ctx, daily, state.units.lock))

    def save(s: Session) -> tuple[str, str, bool]:
        pid = repo.ensure_player(s, player).id
        return (pid, *store_daily(s, pid, game, daily))  # checks again inside the write: one game per day

    return await state.db.write(save, threaded=True)


async def daily_view(state: AppState, player: str | None, day: date) -> DailyOut:
    daily = await daily_of(state, day)

    def load(s: Session) -> tuple[str | None, bool, list[dict[str, object]], bool]:
        ensure_unlocked(s, daily.unit_id)
        game_id = find_daily_game(s, player, day)
        done = False
        if game_id is not None:
            pairs = repo.game_results(s, game_id)
            done = all(g is not None for _, g in pairs)
        withheld = has_open_game(s, player, daily.unit_id)
        return game_id, done, [] if withheld else daily_board(s, daily.policy), withheld

    game_id, done, rows, withheld = await state.db.read(load)
    return DailyOut(
        day=day.isoformat(),
        unit_id=daily.unit_id,
        model=daily.unit_id.split("/")[0],
        level=level_out(daily.level),
        n_rounds=daily.rounds,
        points_version=POINTS_VERSION,
        your_game_id=game_id,
        your_done=done,
        share_url=f"/share/{share_token(state.keys, game_id)}" if game_id and done else None,
        board=[GameTotal(**{k: r[k] for k in GameTotal.model_fields}) for r in rows],  # type: ignore[arg-type]
        withheld=withheld,
    )
