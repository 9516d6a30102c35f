"""Models, harvests and unit contexts, loaded once per process and shared by requests.

One harvest object per (model, extra sites) — its activation arrays are shared by every unit on it — and a
bounded LRU of unit contexts (any kind: neuron, probe, SAE feature, direction). Forward passes register
hooks on the shared torch module, so every use of a model (rounds at levels 2–3, custom text, bots) runs
under :attr:`UnitCache.lock`.
"""

from __future__ import annotations

import fcntl
import hashlib
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from mirrorneuron.config import settings
from mirrorneuron.harvest.cache import Harvest
from mirrorneuron.models.adapter import TorchAdapter
from mirrorneuron.models.loader import zoo_adapter
from mirrorneuron.types import UnitRef, UserError
from mirrorneuron.units import HarvestedUnit, ensure_harvest, lively_unit, unit_context
from mirrorneuron.units.open import check_saved, lively_indices, neuron_sites


@contextmanager
def harvest_lock(model: str) -> Iterator[None]:
    """An exclusive lock on ``model``'s harvests across processes (``serve --workers N`` shares one home):
    the cache's own lock only orders the threads of one worker."""
    folder = settings().harvest_dir
    folder.mkdir(parents=True, exist_ok=True)
    name = hashlib.sha256(model.encode()).hexdigest()[:16]  # a model name may hold any character
    with open(folder / f".lock-{name}", "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)  # released when the file closes
        yield


class UnitCache:
    def __init__(self, max_units: int = 64) -> None:
        self.max_units = max_units
        self.lock = threading.RLock()
        self._adapters: dict[str, TorchAdapter] = {}
        self._harvests: dict[tuple[str, tuple[str, ...]], Harvest] = {}
        self._contexts: OrderedDict[str, HarvestedUnit] = OrderedDict()
        self._lively: dict[str, list[str]] = {}

    def adapter(self, model: str) -> TorchAdapter:
        with self.lock:
            if model not in self._adapters:
                self._adapters[model] = zoo_adapter(model)
            return self._adapters[model]

    def harvest(self, model: str, sites: tuple[str, ...] = ()) -> Harvest:
        """The model's harvest holding ``sites`` (default: the neuron sites), made on first use (seconds for
        the default models)."""
        key = (model, sites)
        with self.lock:
            if key not in self._harvests:
                adapter = self.adapter(model)
                with harvest_lock(model):  # another worker harvesting the model: wait, then find it done
                    self._harvests[key] = ensure_harvest(adapter, None, None, list(sites))
            return self._harvests[key]

    def check(self, ref: UnitRef) -> None:
        """UserError unless ``ref`` names a unit of its model (known site, a neuron's index in range, a saved
        probe / SAE feature / direction). No harvest: a bad id is refused before anything slow."""
        width = self.adapter(ref.model).width(ref.site)  # unknown model or site → UserError
        if ref.kind == "neuron" and not 0 <= ref.index < width:
            raise UserError(f"unit index {ref.index} out of range for {ref.site} (0..{width - 1})")
        check_saved(ref)

    def context(self, unit_id: str, model: str | None = None) -> HarvestedUnit:
        ref = UnitRef.parse(unit_id, model or None)
        with self.lock:
            ctx = self._contexts.get(ref.id)
            if ctx is None:
                self.check(ref)
                h = self.harvest(ref.model, () if ref.kind == "neuron" else (ref.site,))
                ctx = unit_context(self.adapter(ref.model), h, ref)
                self._contexts[ref.id] = ctx
                while len(self._contexts) > self.max_units:
                    self._contexts.popitem(last=False)
            self._contexts.move_to_end(ref.id)
            return ctx

    def random_unit(self, model: str, seed: int | None = None) -> str:
        """A random lively neuron of ``model`` (see :func:`mirrorneuron.units.lively_unit`)."""
        return lively_unit(self.adapter(model), self.harvest(model), np.random.default_rng(seed)).id

    def lively_units(self, model: str) -> list[str]:
        """Every lively neuron of ``model``'s neuron sites: the candidates a unit policy chooses from."""
        with self.lock:
            if model not in self._lively:
                adapter, h = self.adapter(model), self.harvest(model)
                self._lively[model] = [
                    UnitRef(model, site, "neuron", int(i)).id
                    for site in neuron_sites(adapter, h)
                    for i in lively_indices(h, site)
                ]
            return self._lively[model]
