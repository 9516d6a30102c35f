"""Opening units: a game context for any unit id (through a registry of unit kinds), or a random lively neuron.

Each kind module (neurons, probes, directions, SAE features) provides an opener; this module sits above them
and fills :data:`KINDS`, so none of them imports it back.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np

from mirrorneuron.harvest.cache import Harvest
from mirrorneuron.harvest.run import default_sites
from mirrorneuron.models.adapter import TorchAdapter
from mirrorneuron.models.loader import zoo_adapter
from mirrorneuron.types import UnitRef, UserError
from mirrorneuron.units.base import HarvestedUnit
from mirrorneuron.units.context import NeuronContext
from mirrorneuron.units.data import Progress, ensure_harvest
from mirrorneuron.units.directions import direction_context
from mirrorneuron.units.probes import probe_context
from mirrorneuron.units.sae import load_sae, sae_feature_context
from mirrorneuron.units.saved import load_vector


class UnitKind(NamedTuple):
    open: Callable[[Harvest, TorchAdapter, UnitRef], HarvestedUnit]  # the game context on a harvest
    check_saved: Callable[[UnitRef], None]  # UserError unless the unit exists on disk (cheap, no harvest)


def _neuron(h: Harvest, adapter: TorchAdapter, ref: UnitRef) -> HarvestedUnit:
    return NeuronContext(h, adapter, ref.site, ref.index)


def _vector_saved(ref: UnitRef) -> None:
    load_vector(ref.model, ref.site, ref.kind, ref.key)


def _sae_feature_saved(ref: UnitRef) -> None:
    name, _, j = ref.key.rpartition(":")
    load_sae(ref.model, ref.site, name).feature(int(j))


KINDS: dict[str, UnitKind] = {
    "neuron": UnitKind(_neuron, lambda ref: None),  # neurons always exist; the index is checked on opening
    "probe": UnitKind(probe_context, _vector_saved),
    "direction": UnitKind(direction_context, _vector_saved),
    "sae_feature": UnitKind(sae_feature_context, _sae_feature_saved),
}


def _kind(ref: UnitRef) -> UnitKind:
    kind = KINDS.get(ref.kind)
    if kind is None:
        raise UserError(f"unit {ref.id}: unknown kind {ref.kind!r}; choose one of {', '.join(KINDS)}")
    return kind


def unit_context(adapter: TorchAdapter, h: Harvest, ref: UnitRef) -> HarvestedUnit:
    """The game context of any unit kind on harvest ``h`` (probes, directions and SAEs are loaded from disk)."""
    return _kind(ref).open(h, adapter, ref)


def check_saved(ref: UnitRef) -> None:
    """UserError unless the probe, direction or SAE feature ``ref`` names is saved (neurons always exist)."""
    _kind(ref).check_saved(ref)


def neuron_sites(adapter: TorchAdapter, h: Harvest) -> list[str]:
    """The harvest's default neuron sites (all its sites when none of them is a default one)."""
    return [s for s in default_sites(adapter) if s in h.sites] or list(h.sites)


def lively_indices(h: Harvest, site: str) -> np.ndarray:
    """Indices of the site's neurons that are not near-dead: the quarter with the narrowest range is skipped."""
    q = h.stats(site)["quantiles"]
    spread = q[:, -1] - q[:, 0]
    return np.flatnonzero(spread > np.quantile(spread, 0.25))


def lively_unit(adapter: TorchAdapter, h: Harvest, rng: np.random.Generator) -> UnitRef:
    """A random neuron at a random neuron site of ``h`` that is not near-dead (the quarter of the site's
    units with the narrowest activation range is skipped)."""
    sites = neuron_sites(adapter, h)
    site = sites[int(rng.integers(len(sites)))]
    lively = lively_indices(h, site)
    index = int(rng.choice(lively)) if len(lively) else int(rng.integers(h.width(site)))
    return UnitRef(adapter.name, site, "neuron", index)


def open_unit(
    model: str,
    unit: str | None = None,
    seed: int | None = None,
    harvest_dir: Path | None = None,
    progress: Progress | None = None,
) -> HarvestedUnit:
    """Open a unit of ``model`` by id (any kind, full or short; see :meth:`UnitRef.parse`), or a random
    lively neuron (see :func:`lively_unit`)."""
    adapter = zoo_adapter(model)
    if unit:
        ref = UnitRef.parse(unit, model)
        check_saved(ref)  # a missing probe / SAE / direction fails before any harvesting
        sites = [] if ref.kind == "neuron" else [ref.site]
        return unit_context(adapter, ensure_harvest(adapter, harvest_dir, progress, sites), ref)
    h = ensure_harvest(adapter, harvest_dir, progress)
    return unit_context(adapter, h, lively_unit(adapter, h, np.random.default_rng(seed)))
