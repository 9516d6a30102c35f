"""``/api/models``: every model by name (zoo, built-in, registered), with the sites of the ready zoo models."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from mirrorneuron.config import settings
from mirrorneuron.harvest.run import default_sites
from mirrorneuron.models.registry import playable_models
from mirrorneuron.store import repo
from mirrorneuron.web.deps import State
from mirrorneuron.web.schemas.models import ModelOut, SiteOut
from mirrorneuron.web.unitcache import UnitCache

router = APIRouter(tags=["models"])


def list_models(cache: UnitCache, ready_only: bool = False) -> list[ModelOut]:
    """The models of :func:`~mirrorneuron.models.registry.playable_models`, defaults first, then the ready ones."""
    cfg = settings()
    defaults = {cfg.default_text_model, cfg.default_image_model}
    out = []
    for m in playable_models():
        if ready_only and not m.ready:
            continue
        sites: list[SiteOut] = []
        if m.ready and m.kind == "zoo":  # cheap to load; a real model can take seconds (or a conversion)
            adapter = cache.adapter(m.name)
            sites = [SiteOut(name=s, width=adapter.width(s)) for s in default_sites(adapter)]
        out.append(
            ModelOut(
                name=m.name,
                kind=m.kind,
                task=m.task,
                modality=m.modality,
                description=m.description,
                trained=m.trained,
                ready=m.ready,
                install_hint=m.hint,
                default=m.name in defaults,
                sites=sites,
            )
        )
    out.sort(key=lambda m: (not m.default, not m.ready, m.name))
    return out


def stored_modality(s: Session, model: str) -> str:
    """A stored model's modality (``store_game`` records it), so showing a game loads no model."""
    row = s.get(repo.Model, model)
    if row is None:
        raise repo.NotFound(f"model {model!r} is not in the store")
    return row.modality


@router.get("/api/models", response_model=list[ModelOut])
async def models(state: State, ready: bool = False) -> list[ModelOut]:
    """Every model by name: the zoo, the built-in real models and the registered ones (``?ready=true``: only
    those playable now; the others carry an ``install_hint``)."""
    return await run_in_threadpool(list_models, state.units, ready)
