"""Custom text: a unit's activation on every token of any text, computed live (403 while an open study locks
the unit, or while the player has a game open on it)."""

from __future__ import annotations

from typing import Annotated

import numpy as np
from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from mirrorneuron.config import settings
from mirrorneuron.models.adapter import TorchAdapter
from mirrorneuron.models.registry import playable_models
from mirrorneuron.store.locks import ensure_unlocked
from mirrorneuron.types import UnitRef, UserError
from mirrorneuron.web.deps import MaybePlayer, PlayerId, State
from mirrorneuron.web.routers.common import R400, R403, R403_LOCKED, R404
from mirrorneuron.web.schemas.units import CustomOut
from mirrorneuron.web.services.players import has_open_game
from mirrorneuron.web.unitcache import UnitCache

router = APIRouter(tags=["custom"], responses={**R400, **R403, **R403_LOCKED, **R404})
MAX_TEXT = 2000


def window_activations(adapter: TorchAdapter, ids: np.ndarray, site: str) -> np.ndarray:
    """[T, U] activations of every token of ``ids``, however long. Past the model's context the text runs in
    windows of ``n_ctx`` tokens overlapping by half, in one batch: the first window gives its every position,
    each later one its second half, so every token is computed with at least ``n_ctx / 2`` tokens before it."""
    n = adapter.n_ctx
    if not n or len(ids) <= n:
        return adapter.activations(ids[None], site)[0]
    stride = max(1, n // 2)
    starts = [*range(0, len(ids) - n, stride), len(ids) - n]
    acts = adapter.activations(np.stack([ids[a : a + n] for a in starts]), site)  # [W, n, U]
    parts, done = [acts[0]], n
    for w, a in enumerate(starts[1:], 1):
        parts.append(acts[w][done - a :])
        done = a + n
    return np.concatenate(parts)


def activations(cache: UnitCache, unit_id: str, text: str) -> CustomOut:
    """Fresh values of the unit on ``text``: a neuron reads the site; a read-out (probe, SAE feature,
    direction) is applied to the site's activation vectors."""
    ref = UnitRef.parse(unit_id)
    adapter = cache.adapter(ref.model)
    if adapter.modality != "text":
        raise UserError(f"custom text needs a text model; {ref.model} takes images")
    cache.check(ref)
    readout = None if ref.kind == "neuron" else getattr(cache.context(ref.id), "readout", None)
    if adapter.tokenizer is None or not text.strip():
        raise UserError("the text is empty")
    ids = np.asarray(adapter.tokenizer.encode(text).ids, dtype=np.int64)  # all of it (encode() truncates)
    with cache.lock:  # forward hooks live on the shared module
        acts = window_activations(adapter, ids, ref.site)
    values = [float(a) for a in (readout(acts) if readout is not None else acts[:, ref.index])]
    return CustomOut(
        unit_id=ref.id,
        tokens=adapter.tokens(ids),
        activations=values,
        max_abs=max((abs(a) for a in values), default=0.0),
    )


@router.get("/api/custom", response_model=CustomOut)
async def custom_api(
    state: State,
    player: MaybePlayer,
    unit: Annotated[str, Query(min_length=3, max_length=400, description="unit id MODEL/SITE/neuron/I")],
    text: Annotated[str, Query(min_length=1, max_length=MAX_TEXT)],
) -> CustomOut:
    """The unit's activation on every token of ``text`` (past the model's context: overlapping windows)."""
    unit_id = UnitRef.parse(unit).id

    def allowed(s: Session) -> bool:
        ensure_unlocked(s, unit_id)
        return not has_open_game(s, player, unit_id)

    if not await state.db.read(allowed):
        raise HTTPException(403, "finish your game on this unit first (custom text could reveal its answers)")
    return await run_in_threadpool(activations, state.units, unit, text)


def text_models() -> list[str]:
    """Every text model that is ready here: zoo, built-in and registered (``models add``)."""
    return [m.name for m in playable_models() if m.modality == "text" and m.ready]


def default_unit(cache: UnitCache) -> str:
    model = settings().default_text_model
    ready = text_models()
    return cache.random_unit(model if model in ready or not ready else ready[0], 0)


@router.get("/custom", response_class=HTMLResponse, include_in_schema=False)
async def custom_page(request: Request, state: State, _player: PlayerId) -> Response:
    asked = request.query_params.get("unit")
    if asked:
        try:
            asked_id = UnitRef.parse(asked).id
        except UserError:  # a bad id: the page shows the API's error as the user types
            asked_id = None
        if asked_id:
            await state.db.read(ensure_unlocked, asked_id)
    unit = asked or await run_in_threadpool(default_unit, state.units)
    sample = request.query_params.get("text") or "It is a truth universally acknowledged, that a single man"
    return state.templates.TemplateResponse(
        request, "custom.html", {"unit": unit, "models": text_models(), "text": sample, "max_text": MAX_TEXT}
    )
