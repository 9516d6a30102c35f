""":class:`SiteData` from a finished harvest: the activation matrix, tokens, weights, SAEs and unit contexts."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from mirrorneuron.finders.base import SiteData
from mirrorneuron.game import Example, NeighbourHint, UnitContext
from mirrorneuron.harvest.cache import Harvest
from mirrorneuron.models.adapter import TorchAdapter
from mirrorneuron.players.data import BotData
from mirrorneuron.types import UnitRef, UserError
from mirrorneuron.units.base import HarvestedUnit
from mirrorneuron.units.context import NeuronContext, WindowCache
from mirrorneuron.units.data import vocab_of
from mirrorneuron.units.sae import list_saes, load_sae
from mirrorneuron.units.wiring import wiring


class SiteShared(HarvestedUnit):
    """What the neuron contexts of one site share through ``data.memo`` instead of building per unit: the
    examples (an example is the harvest's window around a position, the same for every unit), their probe
    hints and the target tokens of the site's training half (:meth:`BotData.from_context` asks
    :meth:`site_bot_data`)."""

    site_data: SiteData

    def example(self, index: int) -> Example:
        examples: dict[int, Example] = self.site_data.memo.setdefault("examples", {})
        ex = examples.get(index)
        if ex is None:
            ex = examples[index] = super().example(index)
        return ex

    def simple_probes(self, index: int) -> list[NeighbourHint]:
        """The example's probe hints, made once per site: they read the example alone, not the unit (hints are
        immutable: safe to share)."""
        probes: dict[int, tuple[NeighbourHint, ...]] = self.site_data.memo.setdefault("probes", {})
        hints = probes.get(index)
        if hints is None:
            hints = probes[index] = tuple(super().simple_probes(index))
        return list(hints)

    def site_bot_data(self, mask: np.ndarray) -> BotData | None:
        """Bot data (placeholder values) with the target tokens of ``mask`` if it is the site's training half."""
        data = self.site_data
        if mask is not data.training:
            return None
        if "bot_tokens" not in data.memo:
            tokens = self.target_tokens()
            n = int(mask.sum())
            data.memo["bot_tokens"] = BotData(np.zeros(n), None if tokens is None else tokens[mask])
        return data.memo["bot_tokens"]


class LightNeuron(SiteShared):
    """A harvested neuron for levels 0–1 (values and examples; no wiring, no forward passes), sharing the
    site's vocabulary and window ids instead of rebuilding them per unit."""

    def __init__(self, h: Harvest, adapter: TorchAdapter, site: str, index: int, data: SiteData) -> None:
        super().__init__(h, adapter, site)
        self.ref = UnitRef(adapter.name, site, "neuron", index)
        self.values = data.unit_values(index)
        self.site_data = data
        self.__dict__["groups"] = data.groups
        if data.vocab is not None:
            self.__dict__["_vocab"] = data.vocab


class SiteNeuron(SiteShared, NeuronContext):
    """A harvested neuron with level-2/3 hints, sharing its site's forward passes, examples and tokens; its
    neighbours per example are kept (levels 2 and 3 ask the same examples, and level 3 shows level 2's too)."""

    def __init__(self, h: Harvest, adapter: TorchAdapter, site: str, index: int, data: SiteData, passes: WindowCache):
        super().__init__(h, adapter, site, index, passes, data.unit_values(index))
        self.site_data = data
        self._neighbours: dict[int, tuple[NeighbourHint, ...]] = {}
        if data.vocab is not None:
            self.__dict__["_vocab"] = data.vocab  # the same strings; decoding the vocabulary per unit is slow

    def neighbours(self, index: int) -> Sequence[NeighbourHint]:
        hints = self._neighbours.get(index)
        if hints is None:
            hints = self._neighbours[index] = tuple(super().neighbours(index))  # immutable: safe to share
        return hints


def _weights(adapter: TorchAdapter, h: Harvest, site: str) -> np.ndarray | None:
    """[U, n_in] input weights of the site's units, or None where no linear layer computes them."""
    linear = wiring(adapter, h, site, 0).linear
    if linear is None:
        return None
    w = linear.weight.detach().double().numpy()
    return w.reshape(w.shape[0], -1) if w.shape[0] == h.width(site) else None


def _sae_decoders(model: str, site: str, width: int) -> tuple[np.ndarray, ...]:
    decoders = []
    for info in list_saes(model):
        if info["site"] == site:
            dec = load_sae(model, site, str(info["name"])).W_dec
            if dec.shape[1] == width:
                decoders.append(dec)
    return tuple(decoders)


def _labels(h: Harvest) -> np.ndarray | None:
    if h.manifest.get("modality") != "image":
        return None
    from mirrorneuron.corpus import load_digits

    labels = load_digits().labels
    return np.asarray(labels) if len(labels) == h.n_windows else None


def site_data(h: Harvest, adapter: TorchAdapter, site: str, seed: int = 0) -> SiteData:
    """Everything the finders read about the neurons of ``site`` in harvest ``h``."""
    if h.model != adapter.name:
        raise UserError(f"harvest at {h.path} is of model {h.model!r}, not {adapter.name!r}")
    width = h.width(site)
    text = adapter.modality == "text"
    data = SiteData(
        model=adapter.name,
        site=site,
        acts=h.activations(site).reshape(-1, width),
        groups=np.repeat(np.arange(h.n_windows), h.positions),
        tokens=np.asarray(h.inputs).reshape(-1) if text else None,
        vocab=vocab_of(adapter) if text else None,
        labels=_labels(h),
        positions=h.positions,
        weights=_weights(adapter, h, site),
        sae_decoders=_sae_decoders(adapter.name, site, width),
        seed=seed,
    )
    data.open_unit = _opener(h, adapter, site, data)
    return data


def _opener(h: Harvest, adapter: TorchAdapter, site: str, data: SiteData) -> Callable[[int, bool], UnitContext]:
    passes = WindowCache()  # level-2/3 hints: one forward pass per window for all the site's neurons

    def open_unit(j: int, full: bool) -> UnitContext:
        if not full:
            return LightNeuron(h, adapter, site, j, data)
        return SiteNeuron(h, adapter, site, j, data, passes)

    return open_unit
