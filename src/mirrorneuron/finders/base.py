"""What a finder is and what it sees.

A :class:`Finder` scores every unit of one harvested site at once: ``score(data) -> [U]`` floats, NaN where it
cannot score a unit. :class:`SiteData` is the smallest thing that serves every finder: the site's activation
matrix (examples × units), each example's window (group) and target token, the units' input weights, the
decoder directions of SAEs trained on the site, and a way to open one unit's game context (for the bots).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from mirrorneuron.game import UnitContext, training_mask
from mirrorneuron.game.sampling import GroupRuns, group_runs

TRANSPOSE_ROWS = 64  # examples per block of the transposing copy (its source block stays in cache)


@dataclass(eq=False)
class SiteData:
    """One harvested site as finders see it.

    ``acts`` [E, U]: unit ``j``'s activation on example ``e``; ``groups`` [E]: the window of each example (the
    training / held-out split is by window, :func:`~mirrorneuron.game.training_mask`); ``tokens`` [E]: target
    token ids (text) and ``vocab`` their strings; ``labels`` [E]: class labels (images), if known;
    ``weights`` [U, n_in]: each unit's input weights; ``sae_decoders``: per SAE at this site, decoder
    directions [d_sae, U]; ``open_unit(j, full)``: unit ``j``'s game context (``full``: with the level-2/3
    hints, which run the model; else levels 0–1 only); ``memo``: per-site results finders share.
    """

    model: str
    site: str
    acts: np.ndarray
    groups: np.ndarray
    unit_ids: tuple[str, ...] = ()
    tokens: np.ndarray | None = None
    vocab: np.ndarray | None = None
    labels: np.ndarray | None = None
    positions: int = 1
    weights: np.ndarray | None = None
    sae_decoders: tuple[np.ndarray, ...] = ()
    open_unit: Callable[[int, bool], UnitContext] | None = None
    seed: int = 0
    memo: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.acts.ndim != 2:
            raise ValueError(f"acts must be [examples, units], got shape {self.acts.shape}")
        e, u = self.acts.shape
        self.groups = np.asarray(self.groups, dtype=np.int64).reshape(-1)
        if self.groups.shape != (e,):
            raise ValueError(f"groups has {self.groups.size} entries, acts has {e} examples")
        if self.tokens is not None and np.shape(self.tokens) != (e,):
            raise ValueError(f"tokens has shape {np.shape(self.tokens)}, acts has {e} examples")
        if self.weights is not None and self.weights.shape[0] != u:
            raise ValueError(f"weights has {self.weights.shape[0]} rows, acts has {u} units")
        for d in self.sae_decoders:
            if d.ndim != 2 or d.shape[1] != u:
                raise ValueError(f"an SAE decoder has shape {d.shape}; it must be [d_sae, {u}]")
        if not self.unit_ids:
            self.unit_ids = tuple(f"{self.model}/{self.site}/neuron/{j}" for j in range(u))
        if len(self.unit_ids) != u:
            raise ValueError(f"{len(self.unit_ids)} unit ids for {u} units")

    @property
    def n_units(self) -> int:
        return int(self.acts.shape[1])

    @cached_property
    def training(self) -> np.ndarray:
        """True for the examples bots may learn from (never asked); the rest are held out."""
        return training_mask(self.groups)

    @cached_property
    def rows(self) -> np.ndarray:
        """The activations as contiguous rows per unit, [U, E], in their own dtype: what every per-unit reader
        wants (a unit's column of ``acts`` is strided: reading one costs ~20x more). Copied once per site, in
        blocks of examples (numpy's own transposing copy of a [128k, 256] float16 matrix is ~5x slower)."""
        acts = np.asarray(self.acts)
        out = np.empty(acts.shape[::-1], dtype=acts.dtype)
        for i in range(0, acts.shape[0], TRANSPOSE_ROWS):
            out[:, i : i + TRANSPOSE_ROWS] = acts[i : i + TRANSPOSE_ROWS].T
        return out

    def unit_values(self, j: int) -> np.ndarray:
        """Unit ``j``'s value on every example, float32 (as ``Harvest.unit_values``), from :attr:`rows`."""
        return np.asarray(self.rows[j], dtype=np.float32)

    @cached_property
    def group_runs(self) -> GroupRuns:
        """Which examples share each example's window (``game.sampling.group_runs``), for every unit's draw."""
        return group_runs(self.groups)

    def subset(self, idx: Sequence[int] | np.ndarray) -> SiteData:
        """The site restricted to units ``idx`` (their contexts and ids follow); every finder scores a unit of
        the subset as it scores it in the whole site."""
        idx = np.asarray(idx, dtype=np.int64).reshape(-1)
        sub = SiteData(
            self.model, self.site, self.acts[:, idx], self.groups, tuple(self.unit_ids[i] for i in idx), self.tokens,
            self.vocab, self.labels, self.positions, None if self.weights is None else self.weights[idx],
            tuple(d[:, idx] for d in self.sae_decoders), seed=self.seed,
        )  # fmt: skip
        sub.__dict__["training"] = self.training  # the same examples: the same split (and the same object,
        sub.__dict__["group_runs"] = self.group_runs  # which the site's contexts recognise to share their tokens)
        opener = self.open_unit
        if opener is not None:
            sub.open_unit = lambda j, full: opener(int(idx[j]), full)
        return sub

    def unit(self, j: int, full: bool = False) -> UnitContext:
        """Unit ``j``'s game context (``full``: able to build level-2/3 hints)."""
        if self.open_unit is None:
            raise ValueError(f"site {self.site}: no unit contexts available (bot imitability needs them)")
        return self.open_unit(j, full)


class Finder(ABC):
    """An automated method that scores every unit of a site. Subclasses set ``name``, ``version``
    (bump it when the scores change) and ``describe``, and implement :meth:`score`."""

    name: str = ""
    version: str = "1"
    describe: str = ""
    slow: bool = False  # runs the model or plays many rounds per unit

    @abstractmethod
    def score(self, data: SiteData) -> np.ndarray:
        """One float per unit of ``data`` (NaN where the unit cannot be scored)."""

    def __call__(self, data: SiteData) -> np.ndarray:
        """:meth:`score`, checked: one float per unit."""
        out = np.asarray(self.score(data), dtype=np.float64).reshape(-1)
        if out.shape != (data.n_units,):
            raise ValueError(f"finder {self.name!r} returned {out.size} scores for {data.n_units} units")
        return out
