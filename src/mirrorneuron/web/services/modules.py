"""The module view for the web: unit sets and views built with the app's shared models and harvests.

Every forward pass runs under the unit cache's lock (hooks live on the shared module)."""

from __future__ import annotations

from typing import Any, cast

from mirrorneuron.gameplay import modules as mv
from mirrorneuron.web.schemas.modules import ModuleViewOut
from mirrorneuron.web.unitcache import UnitCache


def unit_set(cache: UnitCache, model: str, site: str | None, module: int | None, k: int | None) -> mv.UnitSet:
    """The layer or module (UserError: unknown model, site or module; neither or both chosen)."""
    cache.adapter(model)  # an unknown model → UserError before any work
    with cache.lock:
        return mv.unit_set(mv.module_set(model, (), k), site, module)


def view(
    cache: UnitCache, uset: mv.UnitSet, imitations: dict[str, list[mv.Imitated]], order: str, k: int | None
) -> ModuleViewOut:
    with cache.lock:
        adapter, harvest = cache.adapter(uset.model), cache.harvest(uset.model)
        found = mv.module_set(uset.model, (), k)
        out = mv.module_view(
            adapter, harvest, mv.splicer_for(adapter, harvest), uset, imitations, cast(mv.Order, order)
        )
    extra: dict[str, Any] = {"sites": found["sites"], "k": found["k"]}
    return ModuleViewOut.model_validate(out | extra)


def picker(cache: UnitCache, model: str, k: int | None) -> dict[str, Any]:
    """The layers and found modules of ``model`` to choose from (UserError: unknown model)."""
    cache.adapter(model)
    with cache.lock:
        found = mv.module_set(model, (), k)
    return {"sites": found["sites"], "modules": [{"index": m["index"], "size": m["size"]} for m in found["modules"]]}
