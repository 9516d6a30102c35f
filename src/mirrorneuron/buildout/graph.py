"""The unit graph of a model: its neurons as nodes, linked by weights and by co-activation.

- **weight** edges join the units of successive sites by ``|weight|``: the digits MLP's next-layer weights, the
  digits CNN's conv-as-dense-map and pooled FC weights, and for the transformer the virtual weights through the
  residual stream (``units.wiring.mlp_virtual_weights``: W_in of the downstream unit · W_out of the upstream).
  Each site pair's block is scaled to a maximum of 1, so layers with larger weights do not dominate.
- **co-activation** edges join any two units (within a site too) by the positive part of the Pearson
  correlation of their activations over harvested examples (anti-correlated or constant units: no edge).
- **affinity** = ``mix · weight + (1 − mix) · co-activation`` (default ``mix`` 0.5; weight only when no
  activations are given), then sparsified to each unit's ``NEIGHBOURS`` strongest links (kept if either end
  keeps it), the usual k-nearest-neighbour graph for spectral clustering; modularity is measured on it too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import cast

import numpy as np
import torch
from torch import nn

from mirrorneuron.harvest.cache import Harvest
from mirrorneuron.harvest.run import default_sites
from mirrorneuron.models.loader import zoo_adapter
from mirrorneuron.models.taps import conv_view
from mirrorneuron.models.transformer import TinyTransformer
from mirrorneuron.models.vision import DigitsCNN, DigitsMLP
from mirrorneuron.types import UserError
from mirrorneuron.units.data import ensure_harvest
from mirrorneuron.units.wiring import mlp_virtual_weights

DEFAULT_MIX = 0.5
NEIGHBOURS = 32
MAX_ROWS = 20_000  # harvested examples used for co-activation (evenly spaced over the harvest)


@dataclass(frozen=True)
class UnitGraph:
    model: str
    sites: list[str]
    nodes: list[tuple[str, int]]  # (site, unit index), site by site
    affinity: np.ndarray  # [n, n] symmetric, zero diagonal, sparsified
    mix: float

    def unit_id(self, node: int) -> str:
        site, index = self.nodes[node]
        return f"{self.model}/{site}/neuron/{index}"


def _layer(site: str) -> int | None:
    parts = site.split(".")
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None


def site_weights(model: nn.Module, lower: str, upper: str) -> np.ndarray | None:
    """[units of ``upper``, units of ``lower``] weights from ``lower``'s units to ``upper``'s, when ``upper``
    reads ``lower`` directly (or through the residual stream); None for any other pair."""
    lo, up = _layer(lower), _layer(upper)
    with torch.no_grad():
        if isinstance(model, TinyTransformer) and lower.endswith("mlp.post") and upper.endswith("mlp.post"):
            if lo is not None and up == lo + 1:
                return mlp_virtual_weights(model, lo).numpy()
        elif isinstance(model, DigitsMLP) and lower.endswith(".post") and upper.endswith(".post"):
            if lo is not None and up == lo + 1 and lower.startswith("layers.") and upper.startswith("layers."):
                return cast(nn.Linear, cast(nn.ModuleDict, model.layers[up])["linear"]).weight.numpy()
        elif isinstance(model, DigitsCNN):
            side = model.cfg.image_size
            if (lower, upper) == ("conv.0.post", "conv.1.post"):
                conv = cast(nn.Conv2d, cast(nn.ModuleDict, model.conv[1])["conv"])
                return np.asarray(conv_view(conv, side, side).weight)
            if (lower, upper) == ("conv.1.post", "fc.post"):
                half = side // 2
                k = np.arange(model.cfg.channels * side * side)  # conv.1 unit = channel × pixel, channel-major
                ch, y, x = k // side**2, k % side**2 // side, k % side
                pooled = ch * half**2 + (y // 2) * half + x // 2  # the max-pool cell each unit can win
                return cast(nn.Linear, model.fc["linear"]).weight.numpy()[:, pooled]
    return None


def coactivation(acts: Sequence[np.ndarray]) -> np.ndarray:
    """[n, n] positive part of the correlation of all units' activations (``acts``: [rows, units] per site)."""
    x = np.concatenate([np.asarray(a, dtype=np.float64) for a in acts], axis=1)
    x = x - x.mean(0)
    norm = np.linalg.norm(x, axis=0)
    live = norm > 1e-9
    x[:, live] /= norm[live]
    x[:, ~live] = 0.0  # a constant unit correlates with nothing
    corr = x.T @ x
    np.fill_diagonal(corr, 0.0)
    return np.clip(corr, 0.0, 1.0)


def sparsify(affinity: np.ndarray, neighbours: int = NEIGHBOURS) -> np.ndarray:
    """Keep each node's ``neighbours`` strongest links (a link stays if either end keeps it)."""
    a = np.asarray(affinity, dtype=np.float64)
    n = a.shape[0]
    if neighbours >= n - 1:
        return a.copy()
    top = np.argpartition(-a, neighbours - 1, axis=1)[:, :neighbours]
    keep = np.zeros_like(a, dtype=bool)
    keep[np.arange(n)[:, None], top] = True
    keep |= keep.T
    return np.where(keep, a, 0.0)


def unit_graph(
    model_name: str,
    module: nn.Module,
    sites: Sequence[str],
    widths: Sequence[int],
    acts: Sequence[np.ndarray] | None = None,
    mix: float = DEFAULT_MIX,
    neighbours: int = NEIGHBOURS,
) -> UnitGraph:
    """The unit graph of ``sites`` (with ``widths`` units each); ``acts`` [rows, units] per site, or None."""
    if not 0.0 <= mix <= 1.0:
        raise UserError(f"mix must be between 0 and 1, got {mix}")
    nodes = [(s, i) for s, w in zip(sites, widths, strict=True) for i in range(w)]
    if len(nodes) < 4:
        raise UserError(f"{len(nodes)} units are too few to group into modules; choose more sites")
    starts = np.concatenate([[0], np.cumsum(widths)])
    weight = np.zeros((len(nodes), len(nodes)))
    for a, b in zip(range(len(sites)), range(1, len(sites)), strict=False):
        w = site_weights(module, sites[a], sites[b])
        if w is not None and np.abs(w).max() > 0:
            block = np.abs(w) / np.abs(w).max()
            weight[starts[b] : starts[b + 1], starts[a] : starts[a + 1]] = block
            weight[starts[a] : starts[a + 1], starts[b] : starts[b + 1]] = block.T
    if acts is None:
        affinity, mix = weight, 1.0
    else:
        affinity = mix * weight + (1.0 - mix) * coactivation(acts)
    if not affinity.any():
        raise UserError(f"the units of {', '.join(sites)} share no weights or co-activation to group them by")
    return UnitGraph(model_name, list(sites), nodes, sparsify(affinity, neighbours), mix)


def harvest_rows(harvest: Harvest, sites: Sequence[str], max_rows: int = MAX_ROWS) -> list[np.ndarray]:
    """[rows, units] activations of each site on the same evenly spaced harvested examples."""
    n = harvest.n_examples
    rows = np.unique(np.linspace(0, n - 1, min(n, max_rows)).astype(np.int64))
    return [harvest.activations(s).reshape(n, -1)[rows].astype(np.float32) for s in sites]


def model_graph(
    model: str,
    sites: Sequence[str] = (),
    mix: float = DEFAULT_MIX,
    progress: Callable[[int, int], None] | None = None,
) -> UnitGraph:
    """The unit graph of a zoo (or registered) model's ``sites`` (default: its neuron sites), with co-activation
    from its harvest (made on first use, as every command does)."""
    adapter = zoo_adapter(model)
    chosen = list(dict.fromkeys(sites)) or default_sites(adapter)
    widths = [adapter.width(s) for s in chosen]  # an unknown site is a UserError
    harvest = ensure_harvest(adapter, None, progress, chosen)
    return unit_graph(model, adapter.module, chosen, widths, harvest_rows(harvest, chosen), mix)
