"""The level-3 exactness check, shared by the integration and real-model tests.

Each round goes ``round.to_dict()`` → JSON → back; :func:`recompute` (written here from the payload's field
names, independent of ``Contributions.value()``) computes the value from it, and :func:`verify` compares it with
the truth ``ctx.values[round.index]``:

- tolerance: ``|recomputed − truth| ≤ 1e-3 · max(|truth|, 1e-3 · scale)`` with ``scale = q99 − q01`` of the unit
  (from the round's stats), i.e. 1e-3 relative, and near zero 1e-6 of the unit's range;
- the stored precision: the payload names the cache's precision (``float16`` for a neuron of a default
  harvest, ``float32`` for a float32 one; ``float64`` for read-outs, computed from the cache); for float16,
  whose rounding (up to 2⁻¹¹ relative) dwarfs the float32 forward's noise, the recomputed value equals the
  truth exactly in at least 90% of rounds (a value on a rounding boundary may flip one ulp).
"""

from __future__ import annotations

import json
import math
from dataclasses import replace
from typing import Any

import numpy as np

from mirrorneuron.game import Draw, SamplingPlan, UnitContext, draw_examples, rounds_from

REL, FLOOR = 1e-3, 1e-3
# fp16: most recomputed values hit the stored one exactly; a one-window forward may round the other way at a
# boundary (the tolerance above still holds there). Without the rounding step almost none would.
EXACT_SHARE = 0.75
N_ROUNDS = 10
Case = tuple[dict[str, Any], float, float]  # (contributions payload, truth, unit scale)

_ACTS = {
    "identity": lambda x: x,
    "relu": lambda x: max(x, 0.0),
    "gelu": lambda x: 0.5 * x * (1.0 + math.erf(x / math.sqrt(2.0))),
    "gelu_tanh": lambda x: 0.5 * x * (1.0 + math.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3))),
    "silu": lambda x: x / (1.0 + math.exp(-x)),
    "tanh": math.tanh,
}


def recompute(c: dict[str, Any], skip: frozenset[str] = frozenset()) -> float:
    """The unit's value from a JSON payload; ``skip`` leaves a part out (planted faults)."""
    pre = math.fsum(v for _, v in c["terms"]) + c["bias"]
    name = c["nonlinearity"]
    if name.endswith("_times_up"):
        up = math.fsum(v for _, v in c["up"]["terms"]) + c["up"]["bias"] if "up" not in skip else 1.0
        v = _ACTS[name.removesuffix("_times_up")](pre) * up
    elif name in ("solu", "solu_ln"):
        log_z = c["softmax"]["log_z"] if "softmax" not in skip else math.log(c["softmax"]["units"])
        v = pre * math.exp(pre - log_z)
        if name == "solu_ln" and "layernorm" not in skip:
            ln = c["layernorm"]
            v = (v - ln["mean"]) / ln["std"] * ln["gain"] + ln["bias"]
    else:
        v = _ACTS[name](pre)
    v += c["offset"]
    return v if "rounding" in skip else float(np.asarray(v).astype(c["precision"]))


def level3_cases(ctx: UnitContext, n: int = N_ROUNDS) -> list[Case]:
    """(payload read back from JSON, truth, scale) for level-3 rounds on ``n`` random askable examples of ``ctx``
    (several games' worth: a game asks one example per window, and the tests' harvests have few windows)."""
    base = draw_examples(ctx, 0)
    ask = np.flatnonzero(~base.training)
    pick = np.random.default_rng(0).choice(ask, min(n, ask.size), replace=False)
    items = replace(base, draws=tuple(Draw(int(i), "random", 1.0) for i in pick))
    out = []
    for r in rounds_from(ctx, 3, items, SamplingPlan(), 0).rounds:
        d = json.loads(json.dumps(r.to_dict()))
        assert "value" not in d and "actual" not in d  # the round itself never carries the answer
        out.append((d["hints"]["contributions"], float(ctx.values[r.index]), float(d["hints"]["stats"]["scale"])))
    return out


def verify(cases: list[Case], precision: str, skip: frozenset[str] = frozenset()) -> None:
    assert cases
    for c, truth, scale in cases:
        assert c["exact"] is True, c["formula"]
        assert c["precision"] == precision, f"payload says {c['precision']}, the truth is stored as {precision}"
        got = recompute(c, skip)
        tol = REL * max(abs(truth), FLOOR * scale)
        assert abs(got - truth) <= tol, f"{c['formula']}: recomputed {got!r}, truth {truth!r} (tolerance {tol:.3g})"
    if precision == "float16":
        same = sum(recompute(c, skip) == truth for c, truth, _ in cases)
        assert same >= EXACT_SHARE * len(cases), f"only {same}/{len(cases)} reproduce the stored {precision} value"
