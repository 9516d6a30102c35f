"""Level 3's payload: the contributions to a unit's value and the formula that turns them into the value.

Pure numpy. :meth:`Contributions.value` recomputes the unit's value from the payload alone, for every kind of
unit the project has: an elementwise nonlinearity, a gated MLP (``silu(gate) · up``), SoLU (with its softmax
normaliser and LayerNorm), rounded to the precision the true value is stored in.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np

_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_erf = np.vectorize(math.erf, otypes=[float])


def _gelu(x: np.ndarray) -> np.ndarray:
    return np.asarray(0.5 * x * (1.0 + _erf(x / math.sqrt(2.0))))


def _gelu_tanh(x: np.ndarray) -> np.ndarray:
    return np.asarray(0.5 * x * (1.0 + np.tanh(_SQRT_2_OVER_PI * (x + 0.044715 * x**3))))


_NONLINEARITIES: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "identity": lambda x: x,
    "relu": lambda x: np.maximum(x, 0.0),
    "gelu": _gelu,  # exact form: 0.5·x·(1 + erf(x/√2)), as torch's default GELU
    "gelu_tanh": _gelu_tanh,  # tanh approximation, as GELU(approximate="tanh") / GPT-2's gelu_new
    "silu": lambda x: x / (1.0 + np.exp(-x)),
    "tanh": np.tanh,
}
ELEMENTWISE: tuple[str, ...] = tuple(_NONLINEARITIES)


def is_elementwise(name: str) -> bool:
    """Whether ``name`` is a known elementwise nonlinearity (so the value follows from the pre-activation)."""
    return name in _NONLINEARITIES


def apply_nonlinearity(name: str, x: Any) -> np.ndarray:
    """Apply the named elementwise nonlinearity to ``x`` (float64 array out).

    ``gelu`` is the exact erf form; ``gelu_tanh`` the tanh approximation. Any other name (softmax, layer norm,
    …) raises ValueError: such a unit's value does not follow from its own pre-activation alone.
    """
    if name not in _NONLINEARITIES:
        raise ValueError(
            f"nonlinearity {name!r} is not elementwise (known elementwise: {', '.join(ELEMENTWISE)}); "
            "the value cannot be computed from this unit's pre-activation alone"
        )
    return np.asarray(_NONLINEARITIES[name](np.asarray(x, dtype=np.float64)), dtype=np.float64)


Precision = Literal["float16", "float32", "float64"]
_DTYPES: dict[str, type[np.floating[Any]]] = {"float16": np.float16, "float32": np.float32, "float64": np.float64}
GATED_SUFFIX = "_times_up"  # "silu_times_up": silu(gate) · up


def stored(x: float, precision: str) -> float:
    """``x`` as a cache of that precision holds it (a float16 harvest rounds every value to float16)."""
    if precision not in _DTYPES:
        raise ValueError(f"unknown precision {precision!r}; choose one of {tuple(_DTYPES)}")
    with np.errstate(over="ignore"):
        return float(np.asarray(x, dtype=np.float64).astype(_DTYPES[precision]))


def _clean_terms(terms: Sequence[tuple[str, float]]) -> tuple[tuple[str, float], ...]:
    out = tuple((str(k), float(v)) for k, v in terms)
    if not all(math.isfinite(v) for _, v in out):
        raise ValueError("contributions must be finite")
    return out


def _lump(terms: tuple[tuple[str, float], ...], k: int) -> tuple[tuple[str, float], ...]:
    """The ``k`` largest-|·| terms and one ``other (m terms)`` term holding the rest's exact sum."""
    if len(terms) <= k + 1:
        return terms
    order = sorted(terms, key=lambda t: -abs(t[1]))
    rest = order[k:]
    return (*order[:k], (f"other ({len(rest)} terms)", math.fsum(v for _, v in rest)))


@dataclass(frozen=True)
class LinearPart:
    """A second projection of the same input (a gated MLP's ``up``): its output is ``Σ terms + bias``."""

    terms: tuple[tuple[str, float], ...]
    bias: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "terms", _clean_terms(self.terms))
        object.__setattr__(self, "bias", _finite(self.bias, "bias"))

    @property
    def total(self) -> float:
        return math.fsum(v for _, v in self.terms) + self.bias

    def to_dict(self) -> dict[str, Any]:
        return {"terms": [[k, v] for k, v in self.terms], "bias": self.bias}


@dataclass(frozen=True)
class SoftmaxNorm:
    """SoLU's softmax over the layer's ``units`` pre-activations: ``pre · exp(pre − log_z)``, where
    ``log_z = log Σ_j exp(pre_j)`` (the normaliser; the unit's own ``pre`` is one of the ``pre_j``)."""

    log_z: float
    units: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "log_z", _finite(self.log_z, "log_z"))
        if int(self.units) < 1:
            raise ValueError("a softmax runs over at least one unit")
        object.__setattr__(self, "units", int(self.units))

    def to_dict(self) -> dict[str, Any]:
        return {"log_z": self.log_z, "units": self.units}


@dataclass(frozen=True)
class LayerNormStats:
    """A LayerNorm over the layer, seen from one unit: ``(x − mean) / std · gain + bias``; ``mean`` and ``std``
    (eps included: ``std = √(var + eps)``) are over all the layer's units on this example."""

    mean: float
    std: float
    gain: float
    bias: float

    def __post_init__(self) -> None:
        for name in ("mean", "std", "gain", "bias"):
            object.__setattr__(self, name, _finite(getattr(self, name), name))
        if self.std <= 0:
            raise ValueError("a LayerNorm's std must be positive")

    def apply(self, x: float) -> float:
        return (x - self.mean) / self.std * self.gain + self.bias

    def to_dict(self) -> dict[str, Any]:
        return {"mean": self.mean, "std": self.std, "gain": self.gain, "bias": self.bias}


def _finite(x: float, what: str) -> float:
    x = float(x)
    if not math.isfinite(x):
        raise ValueError(f"contributions: {what} must be finite")
    return x


@dataclass(frozen=True)
class Contributions:
    """Level 3: the weight × input terms of the unit's pre-activation ``pre = Σ terms + bias`` and everything
    else its value needs, so :meth:`value` computes the answer from this payload alone:

    - elementwise ``nonlinearity`` (relu, gelu, …): ``act(pre)``;
    - gated (``"silu_times_up"``): ``silu(pre) · up`` with ``up = Σ up.terms + up.bias`` (same inputs);
    - ``"solu"``: ``pre · exp(pre − softmax.log_z)``; ``"solu_ln"``: that, through ``layernorm``;

    then ``+ offset`` (a bias added after the nonlinearity) and rounded to ``precision``, the precision the true
    value is stored in. ``exact`` is False where the producer knows the payload only approximates the value (or
    the nonlinearity is unknown): such rounds show as "3 · approximate".
    """

    terms: tuple[tuple[str, float], ...]
    bias: float
    nonlinearity: str
    up: LinearPart | None = None
    softmax: SoftmaxNorm | None = None
    layernorm: LayerNormStats | None = None
    offset: float = 0.0
    precision: Precision = "float64"
    exact: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "terms", _clean_terms(self.terms))
        object.__setattr__(self, "bias", _finite(self.bias, "bias"))
        object.__setattr__(self, "offset", _finite(self.offset, "offset"))
        stored(0.0, self.precision)  # unknown precision → ValueError
        object.__setattr__(self, "exact", bool(self.exact) and self.computable)

    @property
    def preactivation(self) -> float:
        return math.fsum(v for _, v in self.terms) + self.bias

    @property
    def elementwise(self) -> bool:
        return is_elementwise(self.nonlinearity)

    @property
    def gated_act(self) -> str | None:
        """The gate's nonlinearity of a gated unit (``"silu"`` for ``"silu_times_up"``), else None."""
        name = self.nonlinearity
        return name[: -len(GATED_SUFFIX)] if name.endswith(GATED_SUFFIX) else None

    @property
    def computable(self) -> bool:
        """Whether the payload holds everything :meth:`value` needs."""
        gate = self.gated_act
        if gate is not None:
            return is_elementwise(gate) and self.up is not None
        if self.nonlinearity == "solu":
            return self.softmax is not None
        if self.nonlinearity == "solu_ln":
            return self.softmax is not None and self.layernorm is not None
        return self.elementwise

    def value(self) -> float:
        """The unit's value from this payload alone (ValueError if the payload does not determine it)."""
        if not self.computable:
            raise ValueError(
                f"nonlinearity {self.nonlinearity!r} is not elementwise and the payload lacks what it needs; "
                "the value cannot be computed from these contributions"
            )
        pre, gate = self.preactivation, self.gated_act
        if gate is not None and self.up is not None:
            v = float(apply_nonlinearity(gate, pre)) * self.up.total
        elif self.softmax is not None:
            v = pre * math.exp(pre - self.softmax.log_z)
            if self.nonlinearity == "solu_ln" and self.layernorm is not None:
                v = self.layernorm.apply(v)
        else:
            v = float(apply_nonlinearity(self.nonlinearity, pre))
        return stored(v + self.offset, self.precision)

    def formula(self) -> str:
        """How the value follows from the parts, in words a player can follow."""
        gate = self.gated_act
        if gate is not None:
            f = f"{gate}(gate) · up, gate = Σ terms + bias, up = Σ up terms + up bias"
        elif self.nonlinearity == "solu":
            f = "pre · exp(pre − log_z), pre = Σ terms + bias"
        elif self.nonlinearity == "solu_ln":
            f = "LayerNorm: (mid − mean) / std · gain + bias, mid = pre · exp(pre − log_z), pre = Σ terms + bias"
        elif self.nonlinearity == "identity":
            f = "Σ terms + bias"
        else:
            f = f"{self.nonlinearity}(Σ terms + bias)"
        if self.offset:
            f += " + offset"
        return f + ("" if self.precision == "float64" else f"; stored as {self.precision}")

    def compact(self, k: int) -> Contributions:
        """Keep each part's ``k`` largest-|·| terms and lump the rest into one ``other (m terms)`` term (sum kept)."""
        up = LinearPart(_lump(self.up.terms, k), self.up.bias) if self.up is not None else None
        return replace(self, terms=_lump(self.terms, k), up=up)

    def to_dict(self) -> dict[str, Any]:
        return {
            "terms": [[k, v] for k, v in self.terms],
            "bias": self.bias,
            "nonlinearity": self.nonlinearity,
            "elementwise": self.elementwise,
            "up": self.up.to_dict() if self.up is not None else None,
            "softmax": self.softmax.to_dict() if self.softmax is not None else None,
            "layernorm": self.layernorm.to_dict() if self.layernorm is not None else None,
            "offset": self.offset,
            "precision": self.precision,
            "exact": self.exact,
            "formula": self.formula(),
        }
