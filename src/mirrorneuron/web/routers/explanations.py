"""Explanations of a unit: a player writes one sentence; an LLM simulator scores it on the player's own rounds
next to their guesses (and an LLM-written explanation). Scoring runs after the POST's response (202,
``status: "scoring"``); the GET lists every explanation of the unit with its scores once done."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, BackgroundTasks, HTTPException
from sqlalchemy.orm import Session

from mirrorneuron.gameplay.explanations import Inputs, check_text, load_inputs
from mirrorneuron.players.llm import LlmError
from mirrorneuron.store import explanations as store
from mirrorneuron.store.errors import StoreError
from mirrorneuron.types import UserError
from mirrorneuron.web.deps import Csrf, PlayerId, State
from mirrorneuron.web.routers.common import R403, R404, Responses
from mirrorneuron.web.schemas.explanations import ExplanationIn, ExplanationOut, ExplanationsOut
from mirrorneuron.web.services.explanations import explanation_out, score_later, web_backend

router = APIRouter(tags=["explanations"], responses={**R403, **R404})
R422_503: Responses = {
    422: {"description": "bad explanation, or too few of your rounds on the unit to score it"},
    503: {"description": "no LLM simulator is configured on this server"},
}


@router.post(
    "/api/units/{unit_id:path}/explanations",
    response_model=ExplanationOut,
    status_code=202,
    dependencies=[Csrf],
    responses=R422_503,
)
async def post_explanation(
    unit_id: str, body: ExplanationIn, state: State, player: PlayerId, tasks: BackgroundTasks
) -> ExplanationOut:
    """Save your explanation of the unit and score it (after this answer: poll the GET for its scores)."""
    try:
        text = check_text(body.text)
        backend = web_backend()
    except LlmError as e:
        raise HTTPException(503, str(e)) from None
    except UserError as e:
        raise HTTPException(422, str(e)) from None

    def save(s: Session) -> tuple[Inputs, dict[str, Any]]:
        inputs = load_inputs(s, unit_id, player)
        row = store.save_explanation(s, unit_id, player, player, text)
        return inputs, next(r for r in store.list_explanations(s, unit_id) if r["id"] == row.id)

    try:
        inputs, row = await state.db.write(save)
    except StoreError as e:
        raise HTTPException(e.status_code, str(e)) from None
    except UserError as e:
        raise HTTPException(422, str(e)) from None
    tasks.add_task(score_later, state.db, int(row["id"]), inputs, text, backend, body.llm_explanation)
    return explanation_out(row)


@router.get("/api/units/{unit_id:path}/explanations", response_model=ExplanationsOut)
async def list_explanations(unit_id: str, state: State) -> ExplanationsOut:
    """Every explanation of the unit, newest first, with its scores (``status`` says whether they are in)."""

    def load(s: Session) -> list[dict[str, Any]]:
        store.unit_stats(s, unit_id)  # 404 for an unknown unit
        return store.list_explanations(s, unit_id)

    try:
        rows = await state.db.read(load)
    except StoreError as e:
        raise HTTPException(e.status_code, str(e)) from None
    return ExplanationsOut(unit_id=unit_id, explanations=[explanation_out(r) for r in rows])
