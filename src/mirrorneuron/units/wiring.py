"""Static wiring of a neuron: which inputs feed it, which same-layer units move with it, which units read it.

Used for level 2 (neighbour activations on the example) and level 3 (weight × input contributions).
Upstream/downstream follow the weights (for the transformer, "virtual" weights through the residual
stream: W_in of one layer times W_out of another, with the LayerNorm gain folded in).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
import torch
from torch import nn

from mirrorneuron.harvest.cache import Harvest
from mirrorneuron.models.adapter import TorchAdapter
from mirrorneuron.models.sites import Site
from mirrorneuron.models.taps import conv_view
from mirrorneuron.models.transformer import TinyTransformer
from mirrorneuron.models.vision import DigitsCNN, DigitsMLP

N_UPSTREAM, N_SAME, N_DOWNSTREAM = 5, 4, 4


@dataclass(frozen=True)
class Link:
    """A neighbour: read ``index`` of ``source`` (a site name, ``@input`` of the feeding linear, or ``@logits``)."""

    label: str
    source: str
    index: int


@dataclass
class Wiring:
    linear: Any | None  # the layer whose output (through ``act``) is the unit: ``weight`` [units, in], ``bias``
    act: str | None
    up: Any | None = None  # a gated MLP's up projection of the same input (``act(gate) · up``)
    out_bias: torch.Tensor | None = None  # added after the nonlinearity (TransformerLens' gated ``b_in``)
    norm: nn.Module | None = None  # SoLU's LayerNorm over the layer (``solu_ln``)
    feed: nn.Module | None = None  # the module whose input the weights multiply (default: ``linear``)
    input_labels: list[str] = field(default_factory=list)
    upstream: list[Link] = field(default_factory=list)
    same_layer: list[Link] = field(default_factory=list)
    downstream: list[Link] = field(default_factory=list)


def _parent(module: nn.Module, site: str) -> nn.Module:
    return module.get_submodule(site.rsplit(".", 1)[0]) if "." in site else module


def _top(weights: torch.Tensor | np.ndarray, k: int) -> list[int]:
    w = np.abs(np.asarray(weights, dtype=np.float64))
    return [int(i) for i in np.argsort(-w, kind="stable")[:k]]


@lru_cache(maxsize=8)
def _standardised_sample(harvest: Harvest, site: str) -> np.ndarray | None:
    """The harvest sample of the site's activations, each unit standardised (shared by the site's units)."""
    sample = harvest.stats(site).get("sample_values")
    if sample is None or sample.shape[0] < 3 or sample.shape[1] < 2:
        return None
    x = sample.astype(np.float64)
    x = (x - x.mean(0)) / (x.std(0) + 1e-12)
    x.setflags(write=False)
    return x


CORRELATION_BLOCK = 128  # units whose correlations with the whole site one matrix product computes


@lru_cache(maxsize=32)
def _correlations(harvest: Harvest, site: str, block: int) -> np.ndarray | None:
    """[U, B] correlations of every unit of the site with units ``block·B … block·B + B − 1`` on the harvest
    sample: one matrix product for B units (a site's units ask in turn; one product per unit reads the whole
    sample each time, ~15x slower in all)."""
    x = _standardised_sample(harvest, site)
    if x is None:
        return None
    b = CORRELATION_BLOCK
    corr = x.T @ np.ascontiguousarray(x[:, block * b : (block + 1) * b]) / len(x)
    corr.setflags(write=False)
    return corr


def _same_layer(harvest: Harvest, site: str, index: int) -> list[Link]:
    """The units of the same site whose activations correlate most with this one (on the harvest sample)."""
    block = _correlations(harvest, site, index // CORRELATION_BLOCK)
    if block is None:
        return []
    corr = block[:, index % CORRELATION_BLOCK].copy()
    corr[index] = 0.0
    return [Link(f"{site}#{j} (r={corr[j]:+.2f})", site, j) for j in _top(corr, N_SAME)]


def _input_labels(adapter: TorchAdapter, model: nn.Module, site: str, linear: Any) -> list[str]:
    d_in = linear.in_features
    if isinstance(model, TinyTransformer):
        return [f"resid[{k}]" for k in range(d_in)]
    if isinstance(model, DigitsMLP | DigitsCNN):
        side = model.cfg.image_size
        if site in ("layers.0.post", "layers.0.pre", "conv.0.post"):
            return [f"pixel ({k // side},{k % side})" for k in range(d_in)]
        if isinstance(model, DigitsMLP):
            below = int(site.split(".")[1]) - 1 if site.startswith("layers.") else len(model.layers) - 1
            return [f"layers.{below}.post#{k}" for k in range(d_in)]
        if site == "conv.1.post":
            return [f"conv.0 ch{k // side**2} ({k % side**2 // side},{k % side})" for k in range(d_in)]
        if site == "logits":
            return [f"fc.post#{k}" for k in range(d_in)]
        half = side // 2
        return [f"pooled conv.1 ch{k // half**2} ({k % half**2 // half},{k % half})" for k in range(d_in)]
    return [f"input[{k}]" for k in range(d_in)]


def mlp_virtual_weights(model: TinyTransformer, layer: int) -> torch.Tensor:
    """[d_mlp, d_mlp] virtual weights from block ``layer``'s neurons to block ``layer + 1``'s through the residual
    stream: W_in of the next block (its LayerNorm gain folded in) · W_out of this one; row = downstream unit."""
    nxt = model.blocks[layer + 1]
    return (nxt.mlp.W_in.weight * nxt.ln2.weight) @ model.blocks[layer].mlp.W_out.weight


def _transformer_links(
    model: TinyTransformer, site: str, index: int, adapter: TorchAdapter
) -> tuple[list[Link], list[Link]]:
    """Upstream = previous layer's neurons (or residual dims in layer 0); downstream = next layer's / logits."""
    layer = int(site.split(".")[1])
    blocks = model.blocks
    w_in = blocks[layer].mlp.W_in.weight[index] * blocks[layer].ln2.weight  # [d_model]
    if layer == 0:
        up = [Link(f"resid[{k}]", "@input", k) for k in _top(w_in.detach(), N_UPSTREAM)]
    else:
        virtual = mlp_virtual_weights(model, layer - 1)[index].detach()  # [d_mlp]
        src = f"blocks.{layer - 1}.mlp.post"
        up = [Link(f"{src}#{j}", src, j) for j in _top(virtual, N_UPSTREAM)]
    w_out = blocks[layer].mlp.W_out.weight[:, index]  # [d_model]
    if layer + 1 < len(blocks):
        virtual = mlp_virtual_weights(model, layer)[:, index].detach()
        dst = f"blocks.{layer + 1}.mlp.post"
        down = [Link(f"{dst}#{j}", dst, j) for j in _top(virtual, N_DOWNSTREAM)]
    else:
        virtual = ((model.unembed.weight * model.ln_final.weight) @ w_out).detach()
        classes = getattr(model, "class_names", None)  # a TextClassifier's head: classes, not tokens
        name = (lambda t: f"class {classes[t]}") if classes else (lambda t: f"logit {adapter.tokens([t])[0]!r}")
        down = [Link(name(t), "@logits", t) for t in _top(virtual, N_DOWNSTREAM)]
    return up, down


def _mlp_links(model: DigitsMLP, site: str, index: int, labels: list[str]) -> tuple[list[Link], list[Link]]:
    layer = int(site.split(".")[1])
    w_in = model.layers[layer]["linear"].weight[index].detach()
    up_src = "@input" if layer == 0 else f"layers.{layer - 1}.post"
    up = [Link(labels[k], up_src, k) for k in _top(w_in, N_UPSTREAM)]
    if layer + 1 < len(model.layers):
        nxt = model.layers[layer + 1]["linear"].weight[:, index].detach()
        dst = f"layers.{layer + 1}.post"
        down = [Link(f"{dst}#{j}", dst, j) for j in _top(nxt, N_DOWNSTREAM)]
    else:
        down = [Link(f"logit digit {j}", "logits", j) for j in _top(model.head.weight[:, index].detach(), N_DOWNSTREAM)]
    return up, down


def wiring(adapter: TorchAdapter, harvest: Harvest, site: str, index: int) -> Wiring:
    model = adapter.module
    site_mod: Site = adapter.sites[site]
    parent = _parent(model, site)
    linear = getattr(parent, site_mod.linear) if site_mod.linear else None
    if isinstance(parent, nn.ModuleDict) and site_mod.linear:
        linear = parent[site_mod.linear]
    w = Wiring(linear, site_mod.act, same_layer=_same_layer(harvest, site, index))
    if linear is None:
        return w
    if isinstance(linear, nn.Conv2d) and isinstance(model, DigitsCNN):
        side = model.cfg.image_size  # the digits CNN's convs keep the image size (padding 1)
        w.linear, w.feed = conv_view(linear, side, side), linear
        linear = w.linear
    w.up, w.out_bias = getattr(linear, "up", None), getattr(linear, "out_bias", None)
    if site_mod.act == "solu_ln":
        norm = getattr(linear, "norm", None)
        w.norm = norm if norm is not None else getattr(parent, "ln", None)
    w.input_labels = _input_labels(adapter, model, site, linear)
    with torch.no_grad():
        if isinstance(model, TinyTransformer) and site.endswith("mlp.post"):
            w.upstream, w.downstream = _transformer_links(model, site, index, adapter)
        elif isinstance(model, DigitsMLP) and site.endswith(".post"):
            w.upstream, w.downstream = _mlp_links(model, site, index, w.input_labels)
        else:
            w.upstream = [Link(w.input_labels[k], "@input", k) for k in _top(linear.weight[index].detach(), N_UPSTREAM)]
    return w
