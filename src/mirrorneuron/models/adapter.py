"""One adapter over any torch ``nn.Module`` with named sites: read activations, stop early, patch (write).

Activations come back as float32 ``[batch, positions, units]``: text models give one position per token,
image models one position per image. Reading stops the forward pass right after the last requested site,
so a harvest never pays for the layers above it (the unembedding is most of a tiny LM's forward).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from tokenizers import Tokenizer
from torch import nn

from mirrorneuron.models.sites import Site, as_units, find_sites
from mirrorneuron.models.tokenizer import token_strings
from mirrorneuron.types import Modality, UserError

Patch = Callable[[torch.Tensor], torch.Tensor]  # [B, P, U] -> [B, P, U]


class StopForward(Exception):
    """Raised from a hook to end a forward pass early (once every requested site has been read); ``run`` catches it."""


@dataclass
class TorchAdapter:
    name: str
    module: nn.Module
    modality: Modality
    tokenizer: Tokenizer | None = None
    checksum: str = ""
    n_ctx: int | None = None
    default_windows: int | None = None  # harvest size when none is asked for (real models: a few hundred)
    sites: dict[str, Site] = field(init=False)

    def __post_init__(self) -> None:
        self.sites = find_sites(self.module)
        self.module.eval()

    def site_names(self) -> list[str]:
        return list(self.sites)

    def width(self, site: str) -> int:
        return self._site(site).width

    def _site(self, site: str) -> Site:
        if site not in self.sites:
            raise UserError(f"unknown site {site!r} for model {self.name}; sites: {', '.join(self.sites)}")
        return self.sites[site]

    @torch.inference_mode()
    def run(self, inputs: torch.Tensor, sites: Sequence[str], stop_early: bool = True) -> dict[str, torch.Tensor]:
        """Forward ``inputs`` and return each requested site's activation as float32 [B, P, U]."""
        wanted = {s: self._site(s) for s in sites}
        got: dict[str, torch.Tensor] = {}

        def hook(name: str, site: Site) -> Callable[..., None]:
            def fn(_m: nn.Module, _i: Any, out: torch.Tensor) -> None:
                got[name] = as_units(out, site.positional).float()
                if stop_early and len(got) == len(wanted):
                    raise StopForward

            return fn

        handles = [s.register_forward_hook(hook(n, s)) for n, s in wanted.items()]
        try:
            self.module(inputs)
        except StopForward:
            pass
        finally:
            for h in handles:
                h.remove()
        return got

    @contextmanager
    def patched(self, patches: dict[str, Patch]) -> Iterator[None]:
        """Within the block, each site's activation is replaced by ``patch(activation)`` (used for splicing)."""

        def hook(site: Site, patch: Patch) -> Callable[..., torch.Tensor]:
            def fn(_m: nn.Module, _i: Any, out: torch.Tensor) -> torch.Tensor:
                return patch(as_units(out, site.positional)).reshape(out.shape)

            return fn

        handles = [self._site(n).register_forward_hook(hook(self._site(n), p)) for n, p in patches.items()]
        try:
            yield
        finally:
            for h in handles:
                h.remove()

    # --- inputs -------------------------------------------------------------------------------------
    def encode(self, text: str) -> np.ndarray:
        """Token ids of custom text (truncated to the model's context)."""
        if self.tokenizer is None:
            raise UserError(f"model {self.name} takes images, not text")
        if not text.strip():
            raise UserError("the text is empty")
        ids = np.asarray(self.tokenizer.encode(text).ids, dtype=np.int64)
        return ids[-self.n_ctx :] if self.n_ctx else ids

    def tokens(self, ids: np.ndarray | list[int]) -> list[str]:
        assert self.tokenizer is not None
        return token_strings(self.tokenizer, ids)

    def to_tensor(self, inputs: np.ndarray) -> torch.Tensor:
        return (
            torch.from_numpy(np.ascontiguousarray(inputs)).long()
            if self.modality == "text"
            else torch.from_numpy(inputs).float()
        )

    def activations(self, inputs: np.ndarray, site: str) -> np.ndarray:
        """Fresh activations [B, P, U] of one site for raw inputs (token ids [B, T] or images [B, H, W])."""
        return self.run(self.to_tensor(inputs), [site])[site].numpy()
