"""A harvested neuron as a game ``UnitContext``: its values, how each example looks, and level-2/3 hints.

Values come from the harvest cache; neighbours and contributions come from one forward pass of the
example's window (cached), so every level works for any example.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache

import numpy as np
import torch
from torch import nn

from mirrorneuron.game import Contributions, NeighbourHint
from mirrorneuron.harvest.cache import Harvest
from mirrorneuron.models.adapter import TorchAdapter
from mirrorneuron.types import UnitRef, UserError
from mirrorneuron.units.base import CONTEXT_AFTER, CONTEXT_BEFORE, HarvestedUnit
from mirrorneuron.units.wiring import Link, Wiring, wiring

__all__ = ["CONTEXT_AFTER", "CONTEXT_BEFORE", "NeuronContext"]


class NeuronContext(HarvestedUnit):
    """``game.UnitContext`` for one neuron of a harvested model."""

    def __init__(self, harvest: Harvest, adapter: TorchAdapter, site: str, index: int) -> None:
        super().__init__(harvest, adapter, site)
        self.index = index
        self.ref = UnitRef(adapter.name, site, "neuron", index)
        self.values = harvest.unit_values(site, index)
        self.wiring: Wiring = wiring(adapter, harvest, site, index)
        self._forward = lru_cache(maxsize=16)(self._run_window)

    # --- level 2 and 3 -----------------------------------------------------------------------------
    def _run_window(self, window: int) -> dict[str, np.ndarray]:
        """Activations [P, ·] on one window: the needed sites, the feeding linear's input, the logits."""
        links = self.wiring.upstream + self.wiring.same_layer + self.wiring.downstream
        sites = sorted({lk.source for lk in links if not lk.source.startswith("@")} | {self.site})
        captured: dict[str, torch.Tensor] = {}
        handles = []
        if self.wiring.linear is not None:
            handles.append(self.wiring.linear.register_forward_pre_hook(_capture(captured, "@input")))
        unembed = getattr(self.adapter.module, "unembed", None)
        if isinstance(unembed, nn.Module):
            handles.append(unembed.register_forward_hook(lambda _m, _i, out: captured.__setitem__("@logits", out)))
        try:
            acts = self.adapter.run(
                self.adapter.to_tensor(self.harvest.inputs[window : window + 1]), sites, stop_early=False
            )
        finally:
            for h in handles:
                h.remove()
        out = {k: v[0].numpy() for k, v in acts.items()}
        positions = out[self.site].shape[0]
        for k, v in captured.items():
            out[k] = v.detach().float().reshape(positions, -1).numpy()
        return out

    def _read(self, acts: dict[str, np.ndarray], link: Link, p: int) -> float:
        return float(acts[link.source][p, link.index])

    def neighbours(self, index: int) -> Sequence[NeighbourHint]:
        w, p = self.harvest.example_location(index)
        acts = self._forward(w)
        groups: list[tuple[str, list[Link]]] = [
            ("upstream", self.wiring.upstream),
            ("same-layer", self.wiring.same_layer),
            ("downstream", self.wiring.downstream),
        ]
        hints = [NeighbourHint(lk.label, g, self._read(acts, lk, p)) for g, links in groups for lk in links]  # type: ignore[arg-type]
        return hints + self.simple_probes(index)

    def contributions(self, index: int) -> Contributions:
        wr = self.wiring
        if wr.linear is None or wr.act is None:
            raise UserError(f"level 3 needs a unit computed by a linear layer; {self.site} is not (try level 2)")
        w, p = self.harvest.example_location(index)
        x = self._forward(w)["@input"][p].astype(np.float64)
        weights = wr.linear.weight[self.index].detach().double().numpy()
        bias = float(wr.linear.bias[self.index].detach()) if wr.linear.bias is not None else 0.0
        terms = tuple((label, float(c)) for label, c in zip(wr.input_labels, weights * x, strict=True))
        return Contributions(terms, bias, wr.act)


def _capture(store: dict[str, torch.Tensor], key: str) -> Callable[..., None]:
    def fn(_m: nn.Module, args: tuple[torch.Tensor, ...]) -> None:
        store[key] = args[0]

    return fn
