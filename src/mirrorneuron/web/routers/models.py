"""``/api/models``: the zoo, with the sites of the trained models."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from mirrorneuron.config import settings
from mirrorneuron.harvest.run import default_sites
from mirrorneuron.models.zoo import REGISTRY, checkpoint_dir
from mirrorneuron.web.deps import State
from mirrorneuron.web.schemas.models import ModelOut, SiteOut
from mirrorneuron.web.unitcache import UnitCache

router = APIRouter(tags=["models"])


def list_models(cache: UnitCache, trained_only: bool = False) -> list[ModelOut]:
    cfg = settings()
    defaults = {cfg.default_text_model, cfg.default_image_model}
    out = []
    for name, zc in REGISTRY.items():
        trained = checkpoint_dir(name) is not None
        if trained_only and not trained:
            continue
        sites: list[SiteOut] = []
        if trained:
            adapter = cache.adapter(name)
            sites = [SiteOut(name=s, width=adapter.width(s)) for s in default_sites(adapter)]
        out.append(
            ModelOut(
                name=name,
                task=zc.task,
                modality="text" if zc.task == "lm" else "image",
                description=zc.description,
                trained=trained,
                default=name in defaults,
                sites=sites,
            )
        )
    out.sort(key=lambda m: (not m.default, not m.trained, m.name))
    return out


@router.get("/api/models", response_model=list[ModelOut])
async def models(state: State, trained: bool = False) -> list[ModelOut]:
    """Every zoo model (``?trained=true``: only those with a checkpoint, i.e. playable)."""
    return await run_in_threadpool(list_models, state.units, trained)
