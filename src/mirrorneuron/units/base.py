"""What every harvested unit shares: its values over the harvest, how an example looks, simple input probes.

Subclasses (:class:`~mirrorneuron.units.context.NeuronContext`,
:class:`~mirrorneuron.units.readout.ReadoutContext`) add level-2 neighbours and level-3 contributions; together
they implement the game's ``UnitContext``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cached_property
from typing import Any

import numpy as np

from mirrorneuron.game import Contributions, Example, ImageExample, NeighbourHint, TextExample
from mirrorneuron.harvest.cache import Harvest
from mirrorneuron.models.adapter import TorchAdapter
from mirrorneuron.types import UnitRef, UserError

CONTEXT_BEFORE, CONTEXT_AFTER = 24, 4


class HarvestedUnit:
    """A unit of a harvested model: ``values[e]`` is its value on harvest example ``e`` (window × position)."""

    ref: UnitRef
    values: np.ndarray

    def __init__(self, harvest: Harvest, adapter: TorchAdapter, site: str) -> None:
        if harvest.model != adapter.name:
            raise UserError(f"harvest at {harvest.path} is of model {harvest.model!r}, not {adapter.name!r}")
        harvest.width(site)  # unharvested site → UserError
        self.harvest, self.adapter, self.site = harvest, adapter, site
        self.modality = adapter.modality

    @property
    def unit_id(self) -> str:
        return self.ref.id

    @property
    def kind(self) -> str:
        return self.ref.kind

    @cached_property
    def groups(self) -> np.ndarray:
        """The window of each example (an image is its own window): a reveal shades the whole window."""
        return np.repeat(np.arange(self.harvest.n_windows), self.harvest.positions)

    # --- what a player sees ------------------------------------------------------------------------
    @cached_property
    def _vocab(self) -> np.ndarray:
        tok = self.adapter.tokenizer
        assert tok is not None
        return np.array(self.adapter.tokens(list(range(tok.get_vocab_size()))), dtype=object)

    def example(self, index: int) -> Example:
        w, p = self.harvest.example_location(index)
        if self.modality == "image":
            return ImageExample(np.clip(self.harvest.inputs[w], 0.0, 1.0))
        window = self.harvest.inputs[w]
        lo, hi = max(0, p - CONTEXT_BEFORE), min(len(window), p + CONTEXT_AFTER + 1)
        return TextExample(tuple(self._vocab[window[lo:hi]]), p - lo)

    def target_tokens(self) -> np.ndarray | None:
        """The target token string of every example (for the unigram bot); None for images."""
        if self.modality == "image":
            return None
        return self._vocab[self.harvest.inputs.reshape(-1)]

    def window_tokens(self, window: int) -> list[str]:
        """The token strings of one harvested window (text models)."""
        return list(self._vocab[self.harvest.inputs[window]])

    def window_activations(self, index: int) -> tuple[list[str], np.ndarray]:
        """Tokens of the example's window and this unit's value at each (for shading after a reveal)."""
        w, _ = self.harvest.example_location(index)
        acts = np.asarray(self.values, dtype=np.float32).reshape(self.harvest.n_windows, -1)[w]
        return self.window_tokens(w), acts

    # --- level 2 and 3 (subclasses) ----------------------------------------------------------------
    def neighbours(self, index: int) -> Sequence[NeighbourHint]:
        raise NotImplementedError

    def contributions(self, index: int) -> Contributions:
        raise NotImplementedError

    def simple_probes(self, index: int) -> list[NeighbourHint]:
        """Simple input features: cheap "probes" a player can lean on (level 2, group ``probe``)."""
        ex = self.example(index)
        if isinstance(ex, ImageExample):
            px = ex.pixels
            half = px.shape[0] // 2
            pairs = [
                ("ink (mean pixel)", float(px.mean())),
                ("ink top − bottom", float(px[:half].mean() - px[half:].mean())),
            ]
        else:
            tok = ex.tokens[ex.target]
            _, p = self.harvest.example_location(index)
            probes: list[tuple[str, Callable[[str], Any]]] = [
                ("starts a word", lambda t: t.startswith(" ")),
                ("capitalised", lambda t: t.strip()[:1].isupper()),
                ("punctuation", lambda t: bool(t.strip()) and not any(c.isalnum() for c in t)),
            ]
            pairs = [("position in window", float(p))] + [(name, float(f(tok))) for name, f in probes]
        return [NeighbourHint(name, "probe", value) for name, value in pairs]
