"""Small image classifiers for the 8×8 digits: an MLP and a CNN, with named sites.

Every site names the layer that computes it and its nonlinearity (``linear``/``act``), so level 3 can split any
unit into weight × input terms; a conv unit (channel × pixel) is a linear unit of the whole input map.
"""

from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F
from pydantic import BaseModel
from torch import nn

from mirrorneuron.models.sites import Site

ACTS = {"relu": F.relu, "gelu": F.gelu, "tanh": torch.tanh}


class VisionConfig(BaseModel):
    arch: str = "mlp"  # "mlp" | "cnn"
    width: int = 64  # hidden units per MLP layer / the CNN's fully connected layer
    n_layers: int = 2  # MLP hidden layers
    channels: int = 8  # CNN channels per conv layer
    act_fn: str = "relu"
    image_size: int = 8
    n_classes: int = 10


def _act(name: str):
    if name not in ACTS:
        raise ValueError(f"unknown act_fn {name!r}; choose one of {tuple(ACTS)}")
    return ACTS[name]


class DigitsMLP(nn.Module):
    """Sites: ``layers.i.pre`` and ``layers.i.post`` for each hidden layer, ``logits``."""

    def __init__(self, cfg: VisionConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.act = _act(cfg.act_fn)
        dims = [cfg.image_size**2] + [cfg.width] * cfg.n_layers
        self.layers = nn.ModuleList(
            nn.ModuleDict(
                {
                    "linear": nn.Linear(a, b),
                    "pre": Site(b, linear="linear", act="identity"),
                    "post": Site(b, linear="linear", act=cfg.act_fn),
                }
            )
            for a, b in itertools.pairwise(dims)
        )
        self.head = nn.Linear(dims[-1], cfg.n_classes)
        self.logits = Site(cfg.n_classes, linear="head", act="identity")

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = images.reshape(images.shape[0], 1, -1)  # [B, 1, 64]: one "position" per image
        for layer in self.layers:
            x = layer["post"](self.act(layer["pre"](layer["linear"](x))))
        return self.logits(self.head(x)).squeeze(1)


class DigitsCNN(nn.Module):
    """Two 3×3 conv layers (sites ``conv.i.post``, one unit per channel × pixel), max-pool, ``fc.post``, logits."""

    def __init__(self, cfg: VisionConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.act = _act(cfg.act_fn)
        c, s = cfg.channels, cfg.image_size
        self.conv = nn.ModuleList(
            nn.ModuleDict(
                {
                    "conv": nn.Conv2d(cin, c, 3, padding=1),
                    "post": Site(c * s * s, positional=False, linear="conv", act=cfg.act_fn),
                }
            )
            for cin in (1, c)
        )
        self.fc = nn.ModuleDict(
            {
                "linear": nn.Linear(c * (s // 2) ** 2, cfg.width),
                "post": Site(cfg.width, positional=False, linear="linear", act=cfg.act_fn),
            }
        )
        self.head = nn.Linear(cfg.width, cfg.n_classes)
        self.logits = Site(cfg.n_classes, positional=False, linear="head", act="identity")

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = images.reshape(images.shape[0], 1, self.cfg.image_size, self.cfg.image_size)
        for layer in self.conv:
            x = layer["post"](self.act(layer["conv"](x)))
        x = F.max_pool2d(x, 2).flatten(1)
        x = self.fc["post"](self.act(self.fc["linear"](x)))
        return self.logits(self.head(x))


def build_vision(cfg: VisionConfig) -> nn.Module:
    return DigitsMLP(cfg) if cfg.arch == "mlp" else DigitsCNN(cfg)
