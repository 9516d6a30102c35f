"""Scoring, exactly as DESIGN.md §6 (same metrics as OpenAI's automated-interpretability).

- ``unit_scale`` = q99 − q01 of the unit's values (fallback max − min, floor 1e-8);
- ``round_score`` = 100 · max(0, 1 − |guess − actual| / scale) (closeness, stored for analysis);
- ``insight_points`` = 100 · max(0, |baseline − actual| − |guess − actual|) / scale · multiplier: what a round
  earns for beating the uninformed guess (the unit's level-0 mean), version :data:`POINTS_VERSION`;
- ``summarize``: pooled Pearson correlation, R² = 1 − mean((a−p)²)/mean((a−ā)²), and absolute deviation
  explained = 1 − mean|a−p| / mean|a−ā|, optionally also re-weighted with sampling weights;
  ``pooled_correlation`` is its correlation alone.

Degenerate inputs never produce NaN: a constant actual or prediction gives 0 and a flag.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

SCALE_FLOOR = 1e-8
CONSTANT_ACTUAL = "constant_actual"
CONSTANT_PREDICTION = "constant_prediction"
EMPTY = "empty"
# Bump when the points formula changes: stored points say which formula made them.
POINTS_VERSION = "insight-1"


def finite_array(name: str, x: Any) -> np.ndarray:
    """``x`` as a 1-D float64 array; ValueError naming ``name`` if it holds NaN or inf."""
    arr = np.asarray(x, dtype=np.float64).reshape(-1)
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        raise ValueError(f"{name} contains NaN or inf at position(s) {bad[:5].tolist()}; all values must be finite")
    return arr


def unit_scale(values: Any) -> float:
    """q99 − q01 of ``values`` (np.quantile, linear); fallback max − min if that is 0; floored at 1e-8."""
    v = finite_array("values", values)
    if v.size == 0:
        raise ValueError("values is empty: a unit's scale needs at least one activation")
    q01, q99 = np.quantile(v, [0.01, 0.99])
    return scale_of(float(q01), float(q99), float(v.min()), float(v.max()))


def scale_of(q01: float, q99: float, lo: float, hi: float) -> float:
    """:func:`unit_scale` from the values' 1st and 99th percentiles, min and max (already computed)."""
    scale = q99 - q01
    return max(scale if scale > 0.0 else hi - lo, SCALE_FLOOR)


def round_score(guess: float, actual: float, scale: float) -> float:
    """100 · max(0, 1 − |guess − actual| / scale)."""
    for name, x in (("guess", guess), ("actual", actual), ("scale", scale)):
        if not math.isfinite(x):
            raise ValueError(f"{name} must be finite, got {x!r}")
    if scale <= 0:
        raise ValueError(f"scale must be positive, got {scale!r}")
    return 100.0 * max(0.0, 1.0 - abs(guess - actual) / scale)


def insight_points(guess: float, actual: float, baseline: float, scale: float, multiplier: float) -> float:
    """100 · max(0, |baseline − actual| − |guess − actual|) / scale · multiplier.

    ``baseline`` is the uninformed guess (the unit mean from level-0 facts), so guessing it earns 0 and a
    perfect guess earns the most the round allows (``guess = actual``)."""
    for name, x in (("guess", guess), ("actual", actual), ("baseline", baseline), ("scale", scale)):
        if not math.isfinite(x):
            raise ValueError(f"{name} must be finite, got {x!r}")
    if scale <= 0:
        raise ValueError(f"scale must be positive, got {scale!r}")
    if not (math.isfinite(multiplier) and multiplier > 0):
        raise ValueError(f"multiplier must be a positive number, got {multiplier!r}")
    gain = abs(baseline - actual) - abs(guess - actual)
    return 100.0 * max(0.0, gain) / scale * multiplier


def _is_constant(x: np.ndarray) -> bool:
    return bool(_constant_span(x.max(), x.min()))


def _constant_span(hi: Any, lo: Any) -> Any:
    """True where values spanning [lo, hi] count as constant: the span is within 1e-12 of their magnitude (at
    least 1). Elementwise, so one row's or many rows' extremes."""
    return hi - lo <= 1e-12 * np.maximum(1.0, np.maximum(np.abs(hi), np.abs(lo)))


def _centred(a: np.ndarray, p: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, ...]:
    """(a, p, w, a − ā, p − p̄) over the rounds of positive weight, ``w`` normalised to sum 1."""
    keep = w > 0
    a, p, w = a[keep], p[keep], w[keep] / w[keep].sum()
    return a, p, w, a - w @ a, p - w @ p


def _correlation(w: np.ndarray, da: np.ndarray, dp: np.ndarray, var_a: float) -> float:
    corr = float(w @ (da * dp)) / math.sqrt(var_a * float(w @ (dp * dp)))
    return max(-1.0, min(1.0, corr))


def _metrics(a: np.ndarray, p: np.ndarray, w: np.ndarray) -> tuple[float, float, float, tuple[str, ...]]:
    """(correlation, r2, abs_dev_explained, flags) with normalised weights ``w`` (all ones = unweighted)."""
    a, p, w, da, dp = _centred(a, p, w)
    if _is_constant(a):
        return 0.0, 0.0, 0.0, (CONSTANT_ACTUAL,) + ((CONSTANT_PREDICTION,) if _is_constant(p) else ())
    var_a = float(w @ (da * da))
    r2 = 1.0 - float(w @ ((a - p) ** 2)) / var_a
    ade = 1.0 - float(w @ np.abs(a - p)) / float(w @ np.abs(da))
    if _is_constant(p):
        return 0.0, r2, ade, (CONSTANT_PREDICTION,)
    return _correlation(w, da, dp, var_a), r2, ade, ()


def pooled_correlation(actual: Any, predicted: Any) -> tuple[float, str | None]:
    """``summarize(actual, predicted)``'s ``(correlation, correlation_flag)`` and nothing else (the same float:
    the same operations), for callers that read only that number (the finders, once per session)."""
    a, p = _pair(actual, predicted)
    if a.size == 0:
        return 0.0, None
    a, p, w, da, dp = _centred(a, p, np.ones_like(a))
    if _is_constant(a):
        return 0.0, CONSTANT_ACTUAL
    if _is_constant(p):
        return 0.0, CONSTANT_PREDICTION
    return _correlation(w, da, dp, float(w @ (da * da))), None


def _pair(actual: Any, predicted: Any) -> tuple[np.ndarray, np.ndarray]:
    a, p = finite_array("actual", actual), finite_array("predicted", predicted)
    if a.shape != p.shape:
        raise ValueError(f"actual has {a.size} values but predicted has {p.size}")
    return a, p


@dataclass(frozen=True)
class ScoreSummary:
    """Scores over a set of rounds. ``weighted_*`` are ``None`` unless sampling weights were given."""

    n: int
    mean_round_score: float | None
    correlation: float
    r2: float
    abs_dev_explained: float
    correlation_flag: str | None = None
    flags: tuple[str, ...] = ()
    weighted_mean_round_score: float | None = None
    weighted_correlation: float | None = None
    weighted_r2: float | None = None
    weighted_abs_dev_explained: float | None = None
    weighted_flags: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["flags"], d["weighted_flags"] = list(self.flags), list(self.weighted_flags)
        return d


def summarize(actual: Any, predicted: Any, *, scale: Any = None, weights: Any = None) -> ScoreSummary:
    """Summarise rounds with true values ``actual`` and guesses ``predicted``.

    ``scale``: a float, or one per round (rounds of several units); without it ``mean_round_score`` is None.
    ``weights``: sampling weights (natural ÷ sampling probability) for the re-weighted metrics.
    ``correlation_flag`` says why correlation is 0 (``constant_actual`` wins over ``constant_prediction``).
    """
    a, p = _pair(actual, predicted)
    scores = None
    if scale is not None:
        s = finite_array("scale", scale)
        if s.size == 1:
            s = np.full(a.shape, s[0])
        elif s.shape != a.shape:
            raise ValueError(f"scale must be one number or one per round ({a.size}), got {s.size}")
        scores = np.array([round_score(g, t, float(c)) for g, t, c in zip(p, a, s, strict=True)])
    w = None if weights is None else finite_array("weights", weights)
    if w is not None and (w.shape != a.shape or np.any(w < 0)):
        raise ValueError(f"weights must be {a.size} non-negative numbers, one per round")
    if a.size == 0:
        return ScoreSummary(0, None, 0.0, 0.0, 0.0, None, (EMPTY,))
    corr, r2, ade, flags = _metrics(a, p, np.ones_like(a))
    mean_score = None if scores is None else float(scores.mean())
    out = ScoreSummary(a.size, mean_score, corr, r2, ade, flags[0] if flags else None, flags)
    if w is None:
        return out
    if w.sum() <= 0:
        raise ValueError("weights sum to 0: at least one round needs a positive sampling weight")
    wc, wr2, wade, wflags = _metrics(a, p, w)
    wscore = None if scores is None else float(w @ scores / w.sum())
    return replace(
        out,
        weighted_mean_round_score=wscore,
        weighted_correlation=wc,
        weighted_r2=wr2,
        weighted_abs_dev_explained=wade,
        weighted_flags=wflags,
    )


def r2_rows(actual: Any, predicted: Any) -> tuple[np.ndarray, np.ndarray]:
    """``summarize``'s unweighted R² for many sets of rounds at once: row ``i`` of ``actual`` and ``predicted``
    ([sets, rounds]) is one set. Returns (r2, constant): r2 = 1 − mean((a−p)²) / mean((a−ā)²) per row, and
    where a row's actual is constant (``summarize`` flags ``constant_actual``) r2 = 0 and constant is True;
    no rounds: r2 = 0 (``summarize``'s ``empty``). Equal to ``summarize(a[i], p[i]).r2`` up to rounding."""
    a, p = np.asarray(actual, dtype=np.float64), np.asarray(predicted, dtype=np.float64)
    if a.ndim != 2 or a.shape != p.shape:
        raise ValueError(f"actual {a.shape} and predicted {p.shape} must be [sets, rounds] of one shape")
    if a.shape[1] == 0:
        return np.zeros(a.shape[0]), np.zeros(a.shape[0], dtype=bool)
    hi, lo = a.max(axis=1), a.min(axis=1)
    da, err = a - a.mean(axis=1, keepdims=True), a - p
    var_a, sse = np.einsum("ij,ij->i", da, da) / a.shape[1], np.einsum("ij,ij->i", err, err) / a.shape[1]
    if not (np.isfinite(hi).all() and np.isfinite(lo).all() and np.isfinite(sse).all()):  # (cheaper than isfinite(a))
        finite_array("actual", a), finite_array("predicted", p)  # raises, naming the input with NaN or inf
    constant = _constant_span(hi, lo)  # _is_constant per row
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(constant, 0.0, 1.0 - sse / var_a), constant
