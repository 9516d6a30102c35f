"""Linear read-outs at a site — probes, directions, SAE features — and their game context.

A read-out turns the site's activation vector ``a`` into one number::

    value = act((a − shift) · weight + bias)        act ∈ {identity, relu}

- direction ``v``: weight = v, no shift, bias 0, identity;
- probe ``(w, b)``: the fitted logit (classifiers) or prediction (regression); ``shift`` is the training mean
  (the probe was fitted on standardised inputs and the scaler is folded into ``weight``), identity;
- SAE feature ``j``: weight = W_enc[:, j], shift = b_dec (when the SAE subtracts it from its input),
  bias = b_enc[j], relu.

Values on every harvested example come from the activation cache (vectorised, float64), and level-3
contributions use the same cached activations, so ``act(Σ terms + bias)`` reproduces the value exactly: the
cache's float16 rounding is in the inputs both see, and the value itself is never stored rounded (precision
``float64``).

Level 2 never lists a read-out equal to the unit's own (|cosine| of the weights > :data:`SAME_READOUT`): a
direction saved twice, or a probe equal to a direction, would otherwise show the answer as a neighbour.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

import numpy as np

from mirrorneuron.game import Contributions, NeighbourHint
from mirrorneuron.harvest.cache import Harvest
from mirrorneuron.models.adapter import TorchAdapter
from mirrorneuron.types import UnitRef, UserError
from mirrorneuron.units.base import HarvestedUnit

N_UPSTREAM = 5
SAME_READOUT = 0.999  # |cosine| above which two read-outs count as the same one
CHUNK = 1 << 16
Act = Literal["identity", "relu"]


@dataclass(frozen=True, eq=False)
class Readout:
    """One scalar read-out of a site's activation vector (see the module docstring)."""

    ref: UnitRef
    weight: np.ndarray
    bias: float = 0.0
    shift: np.ndarray | None = None
    act: Act = "identity"
    shift_label: str = "centre"  # how level 3 names the shift (e.g. "b_dec" for an SAE)
    label: str = field(default="")  # short display name (level-2 neighbour lists)

    def __post_init__(self) -> None:
        w = np.asarray(self.weight, dtype=np.float64).reshape(-1)
        if not np.all(np.isfinite(w)) or not np.isfinite(self.bias):
            raise UserError(f"{self.ref.id}: weights must be finite numbers")
        object.__setattr__(self, "weight", w)
        object.__setattr__(self, "bias", float(self.bias))
        if self.shift is not None:
            s = np.asarray(self.shift, dtype=np.float64).reshape(-1)
            if s.shape != w.shape or not np.all(np.isfinite(s)):
                raise UserError(f"{self.ref.id}: shift must be {w.size} finite numbers")
            object.__setattr__(self, "shift", s)
        if not self.label:
            object.__setattr__(self, "label", f"{self.ref.kind} {self.ref.key}")

    @property
    def width(self) -> int:
        return int(self.weight.size)

    def __call__(self, acts: np.ndarray) -> np.ndarray:
        """Values for activation rows ``acts`` [..., width] (float64 out, chunked over rows)."""
        return apply_linear(acts, self.weight[:, None], np.array([self.bias]), self.shift, self.act)[..., 0]


def apply_linear(
    acts: np.ndarray, weight: np.ndarray, bias: np.ndarray, shift: np.ndarray | None, act: Act
) -> np.ndarray:
    """``act((acts − shift) @ weight + bias)`` for rows of ``acts`` [..., d] and ``weight`` [d, k]; float64 out."""
    d = weight.shape[0]
    if acts.shape[-1] != d:
        raise UserError(f"the read-out expects {d} inputs but the site has {acts.shape[-1]}")
    flat = acts.reshape(-1, d)
    out = np.empty((flat.shape[0], weight.shape[1]), dtype=np.float64)
    for lo in range(0, flat.shape[0], CHUNK):
        x = flat[lo : lo + CHUNK].astype(np.float64)
        if shift is not None:
            x -= shift
        out[lo : lo + CHUNK] = x @ weight + bias
    if act == "relu":
        np.maximum(out, 0.0, out=out)
    return out.reshape(*acts.shape[:-1], weight.shape[1])


class ReadoutContext(HarvestedUnit):
    """``game.UnitContext`` for a read-out (probe, direction, SAE feature) of a harvested site.

    Level 2: ``upstream`` = the site units with the largest |weight| in the read-out (their activations on this
    example), ``same-layer`` = a few units of the same kind (other probes / directions at the site, the SAE's
    most similar features), ``probe`` = the simple input features every unit gets.
    Level 3: ``weight[k] × (a[k] − shift[k])`` for every site unit, plus the bias, with identity or relu.
    """

    def __init__(
        self,
        harvest: Harvest,
        adapter: TorchAdapter,
        readout: Readout,
        siblings: Sequence[Readout] = (),
    ) -> None:
        super().__init__(harvest, adapter, readout.ref.site)
        if harvest.width(self.site) != readout.width:
            raise UserError(
                f"{readout.ref.id} reads {readout.width} numbers but {self.site} has {harvest.width(self.site)} units"
            )
        self.readout = readout
        self.siblings = tuple(s for s in siblings if not same_direction(s.weight, readout.weight))
        self.ref = readout.ref
        self.values = readout(harvest.activations(self.site)).reshape(-1)

    @cached_property
    def _acts(self) -> np.ndarray:
        return self.harvest.activations(self.site)

    def _row(self, index: int) -> np.ndarray:
        w, p = self.harvest.example_location(index)
        return np.asarray(self._acts[w, p], dtype=np.float64)

    @cached_property
    def upstream(self) -> list[int]:
        """The site units with the largest |weight| (ties: lower index first); not a unit the read-out only
        rescales (a direction along one unit would show the answer)."""
        w = self.readout.weight
        order = [int(k) for k in np.argsort(-np.abs(w), kind="stable")[:N_UPSTREAM]]
        return [k for k in order if not same_direction(np.eye(1, w.size, k)[0], w)]

    def neighbours(self, index: int) -> Sequence[NeighbourHint]:
        row = self._row(index)
        w = self.readout.weight
        hints = [NeighbourHint(f"{self.site}#{k} (w={w[k]:+.2f})", "upstream", row[k]) for k in self.upstream]
        hints += [NeighbourHint(s.label, "same-layer", float(s(row[None])[0])) for s in self.siblings]
        return hints + self.simple_probes(index)

    def contributions(self, index: int) -> Contributions:
        r = self.readout
        x = self._row(index)
        if r.shift is None:
            labels = [f"{self.site}#{k}" for k in range(r.width)]
        else:
            x = x - r.shift
            labels = [f"{self.site}#{k} − {r.shift_label}" for k in range(r.width)]
        terms = tuple(zip(labels, (r.weight * x).tolist(), strict=True))
        return Contributions(terms, r.bias, r.act, precision="float64")


def same_direction(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two read-out weight vectors are the same up to scale and sign (|cosine| > SAME_READOUT)."""
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    if a.shape != b.shape or na == 0.0 or nb == 0.0:
        return False
    return abs(float(a @ b)) / (na * nb) > SAME_READOUT
