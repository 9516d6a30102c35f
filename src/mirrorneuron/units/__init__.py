"""Units: scalar read-outs at sites (neurons for now), opened as game contexts over a harvest."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from mirrorneuron.config import settings
from mirrorneuron.harvest.cache import Harvest
from mirrorneuron.harvest.run import HarvestSpec, default_sites, harvest
from mirrorneuron.models.adapter import TorchAdapter, zoo_adapter
from mirrorneuron.types import UnitRef, UserError
from mirrorneuron.units.context import NeuronContext

__all__ = ["NeuronContext", "ensure_harvest", "open_unit"]


def ensure_harvest(
    adapter: TorchAdapter, out: Path | None = None, progress: Callable[[int, int], None] | None = None
) -> Harvest:
    """The model's default harvest, made (or resumed) on first use."""
    target = out or settings().harvest_dir / adapter.name
    if (target / "manifest.json").exists():
        try:
            return Harvest(target)
        except UserError:
            pass  # incomplete: resume below
    corpus = "digits" if adapter.modality == "image" else "austen"
    return harvest(
        adapter, HarvestSpec(corpus=corpus, max_windows=None if adapter.modality == "image" else 2000), target, progress
    )


def open_unit(
    model: str,
    unit: str | None = None,
    seed: int | None = None,
    harvest_dir: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> NeuronContext:
    """Open a neuron of ``model`` by id (``model/site/neuron/i`` or ``site/i``), or a random lively one."""
    adapter = zoo_adapter(model)
    h = ensure_harvest(adapter, harvest_dir, progress)
    if unit:
        parts = unit.split("/")
        ref = UnitRef.parse(unit) if len(parts) == 4 else UnitRef.parse(f"{model}/{parts[0]}/neuron/{parts[-1]}")
        if ref.model != model:
            raise UserError(f"unit {unit} belongs to model {ref.model}, not {model}")
        if ref.kind != "neuron":
            raise UserError(f"unit kind {ref.kind!r} is not supported yet (only 'neuron')")
        return NeuronContext(h, adapter, ref.site, ref.index)
    rng = np.random.default_rng(seed)
    sites = [s for s in default_sites(adapter) if s in h.sites] or h.sites
    site = sites[int(rng.integers(len(sites)))]
    spread = h.stats(site)["quantiles"][:, -1] - h.stats(site)["quantiles"][:, 0]
    lively = np.flatnonzero(spread > np.quantile(spread, 0.25))  # skip near-dead units
    index = int(rng.choice(lively)) if len(lively) else int(rng.integers(h.width(site)))
    return NeuronContext(h, adapter, site, index)
