"""Rounds: submit a guess (the hot path) and fetch the full reveal after it."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException
from fastapi.responses import Response
from sqlalchemy import Connection
from starlette.concurrency import run_in_threadpool

from mirrorneuron.store import repo
from mirrorneuron.store.models import Guess, Round
from mirrorneuron.web.deps import Csrf, MaybePlayer, State
from mirrorneuron.web.routers.common import R403, R404, R409, R429, fast_json
from mirrorneuron.web.routers.games import game_meta
from mirrorneuron.web.schemas.games import GuessIn, GuessOut, RevealOut
from mirrorneuron.web.services.results import shaded_window

router = APIRouter(tags=["rounds"], responses={**R403, **R404})


@router.post(
    "/api/rounds/{round_id}/guess", response_model=GuessOut, dependencies=[Csrf], responses={**R409, **R429}
)
async def guess(round_id: str, body: GuessIn, state: State, player: MaybePlayer) -> Response:
    """Store the guess (committed before this answers), then reveal the truth if the game has feedback.

    403 without the round's token or with another round's; 409 for a second guess; 429 when too fast."""
    if player is None:
        raise HTTPException(403, "no player cookie: open the game page first")

    def limited_submit(s: Connection) -> tuple[Guess, Round] | None:
        """The rate-limit token and the guess in one transaction; a refused guess (404, 403, 409, 422)
        still spends its token."""
        if not state.limiter.allow(s, player):
            return None
        try:
            return repo.submit_guess(s, player, round_id, body.token, body.value, body.seconds)  # commits both
        except repo.AlreadyGuessed:  # its rollback undid the token too: spend one again
            state.limiter.allow(s, player)
            s.commit()
            raise
        except (repo.StoreError, ValueError):  # refused before any write: keep the spent token
            s.commit()
            raise

    stored = await state.db.write_conn(limited_submit)  # one hop to the write thread, no ORM session
    if stored is None:
        raise HTTPException(429, "too many guesses; slow down", headers={"Retry-After": "1"})
    g, rnd = stored
    meta = await game_meta(state, rnd.game_id, player)
    show = meta.feedback
    out = GuessOut(
        round_id=rnd.id,
        game_id=rnd.game_id,
        seq=rnd.seq,
        guess=g.value,
        feedback=show,
        actual=rnd.actual if show else None,
        score=g.score if show else None,
        points=g.points if show else None,
        max_points=repo.round_max_points(rnd) if show else None,
        n_answered=rnd.seq + 1,
        n_rounds=meta.n_rounds,
        done=rnd.seq + 1 >= meta.n_rounds,
    )
    return fast_json(out)


@router.get("/api/rounds/{round_id}/reveal", response_model=RevealOut, responses=R409)
async def reveal(round_id: str, state: State, player: MaybePlayer) -> RevealOut:
    """After your guess (feedback games only): the truth and the window shaded by this unit's activation."""
    rnd = await state.db.read(repo.get_round, round_id)
    if rnd is None:
        raise HTTPException(404, f"no round {round_id!r}")
    meta = await game_meta(state, rnd.game_id, player)
    if not meta.feedback:
        raise HTTPException(403, "this game gives no feedback: values are not revealed")
    pairs = await state.db.read(repo.game_results, rnd.game_id)
    g = next((g for r, g in pairs if r.id == round_id), None)
    if g is None:
        raise HTTPException(409, "guess first: the reveal comes after your guess")
    ctx = await run_in_threadpool(state.units.context, meta.unit_id)
    return RevealOut(
        round_id=rnd.id,
        seq=rnd.seq,
        guess=g.value,
        actual=rnd.actual,
        score=g.score,
        points=g.points,
        max_points=repo.round_max_points(rnd),
        window=shaded_window(ctx, rnd.example_index),
    )
