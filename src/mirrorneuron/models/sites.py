"""Named sites: identity modules placed in a forward pass so hooks can read (and write) activations there."""

from __future__ import annotations

import torch
from torch import nn


class Site(nn.Identity):
    """Marks a readable/writable place in the forward pass.

    ``width`` is the number of units; ``positional`` says whether dim 1 of the activation is a sequence
    position (text) or whether the whole per-example activation is one position (images, flattened).

    ``linear`` names the ``nn.Linear`` attribute of the same parent module whose output, passed through the
    elementwise ``act``, gives this site (used to split a unit into weight × input contributions).
    """

    def __init__(self, width: int, positional: bool = True, linear: str | None = None, act: str | None = None) -> None:
        super().__init__()
        self.width = width
        self.positional = positional
        self.linear = linear
        self.act = act


def find_sites(model: nn.Module) -> dict[str, Site]:
    return {name: m for name, m in model.named_modules() if isinstance(m, Site)}


def as_units(x: torch.Tensor, positional: bool) -> torch.Tensor:
    """Bring a site's activation to [batch, positions, units]."""
    return x if positional else x.reshape(x.shape[0], 1, -1)
