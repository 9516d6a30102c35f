"""Level-3 payloads: each formula against hand-computed values, compacting, serialising and displaying them."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from mirrorneuron.game import ArrayContext, Contributions, Level, TextExample, make_rounds
from mirrorneuron.game.contributions import LayerNormStats, LinearPart, SoftmaxNorm, stored
from mirrorneuron.players.features import round_features
from mirrorneuron.players.prompt import render_hints
from mirrorneuron.players.render import contributions_table

TERMS = (("x0", 1.0), ("x1", -0.25), ("x2", 0.125))  # Σ = 0.875


def _silu(x: float) -> float:
    return x / (1.0 + math.exp(-x))


def test_elementwise_value_is_rounded_to_the_stored_precision() -> None:
    c = Contributions(TERMS, 0.5, "gelu", precision="float16")  # pre = 1.375
    want = 0.5 * 1.375 * (1.0 + math.erf(1.375 / math.sqrt(2.0)))
    assert c.value() == float(np.float16(want)) and c.value() != want
    assert Contributions(TERMS, 0.5, "gelu").value() == pytest.approx(want, rel=1e-15)  # float64: no rounding
    assert c.exact and c.computable and c.elementwise


def test_gated_value_needs_both_parts() -> None:
    up = LinearPart((("x0", 2.0), ("x1", -0.5)), 0.25)  # up = 1.75
    c = Contributions(TERMS, 0.625, "silu_times_up", up=up)  # gate = 1.5
    assert c.gated_act == "silu" and not c.elementwise and c.exact
    assert c.value() == pytest.approx(_silu(1.5) * 1.75, rel=1e-14)
    assert "silu(gate) · up" in c.formula()
    no_up = Contributions(TERMS, 0.625, "silu_times_up")
    assert not no_up.computable and not no_up.exact  # the gate alone does not determine the value
    with pytest.raises(ValueError, match="cannot be computed"):
        no_up.value()


def test_solu_and_solu_layernorm() -> None:
    sm, ln = SoftmaxNorm(log_z=2.0, units=8), LayerNormStats(mean=0.1, std=0.2, gain=1.5, bias=0.3)
    mid = 0.875 * math.exp(0.875 - 2.0)
    assert Contributions(TERMS, 0.0, "solu", softmax=sm).value() == pytest.approx(mid, rel=1e-14)
    c = Contributions(TERMS, 0.0, "solu_ln", softmax=sm, layernorm=ln, precision="float32")
    assert c.value() == float(np.float32((mid - 0.1) / 0.2 * 1.5 + 0.3))
    assert "log_z" in c.formula() and "LayerNorm" in c.formula() and "float32" in c.formula()
    assert not Contributions(TERMS, 0.0, "solu_ln", softmax=sm).exact  # no LayerNorm: not determined
    with pytest.raises(ValueError, match="std must be positive"):
        LayerNormStats(0.0, 0.0, 1.0, 0.0)


def test_offset_and_bad_input() -> None:
    up = LinearPart((("x0", 1.0),), 0.0)
    c = Contributions(TERMS, 0.0, "silu_times_up", up=up, offset=0.5)
    assert c.value() == pytest.approx(_silu(0.875) + 0.5, rel=1e-14) and "+ offset" in c.formula()
    with pytest.raises(ValueError, match="precision"):
        Contributions(TERMS, 0.0, "relu", precision="float8")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="finite"):
        LinearPart((("x0", math.inf),))
    with pytest.raises(ValueError, match="finite"):
        SoftmaxNorm(math.nan, 3)
    assert not Contributions(TERMS, 0.0, "softmax").exact  # an unknown formula is never claimed exact
    assert stored(1e6, "float16") == math.inf  # beyond float16's range, as the cache would hold it


def test_compact_keeps_every_part_and_the_value() -> None:
    many = tuple((f"x{i}", (-1) ** i * 0.1 * i) for i in range(20))
    c = Contributions(many, 0.1, "gelu_tanh_times_up", up=LinearPart(many[::-1], -0.2), precision="float16")
    small = c.compact(3)
    assert len(small.terms) == 4 and small.up is not None and len(small.up.terms) == 4
    assert small.terms[-1][0] == "other (17 terms)"
    assert small.preactivation == pytest.approx(c.preactivation) and small.up.total == pytest.approx(c.up.total)  # type: ignore[union-attr]
    assert small.value() == c.value()


def test_to_dict_is_json_and_names_every_part() -> None:
    sm, ln = SoftmaxNorm(1.0, 4), LayerNormStats(0.0, 1.0, 1.0, 0.0)
    d = json.loads(json.dumps(Contributions(TERMS, 0.0, "solu_ln", softmax=sm, layernorm=ln).to_dict()))
    assert d["softmax"] == {"log_z": 1.0, "units": 4} and d["layernorm"]["std"] == 1.0 and d["up"] is None
    assert d["exact"] is True and d["precision"] == "float64" and d["formula"].startswith("LayerNorm: (mid − mean)")


def _gated_context(n: int = 30) -> ArrayContext:
    rng = np.random.default_rng(0)
    contribs = [
        Contributions(
            tuple(("g", float(v)) for v in rng.normal(size=1)),
            0.0,
            "silu_times_up",
            up=LinearPart((("u", float(rng.normal())),)),
            precision="float16",
        )
        for _ in range(n)
    ]
    examples = [TextExample(("a", f"t{i}"), 1) for i in range(n)]
    return ArrayContext("m/s/neuron/0", [c.value() for c in contribs], examples, [()] * n, contribs)


def test_ridge_features_use_the_value_of_a_gated_payload() -> None:
    ctx = _gated_context()
    r = make_rounds(ctx, Level.WEIGHTS, 1, seed=0).rounds[0]
    assert r.hints.contributions is not None
    assert round_features(r)["value"] == r.hints.contributions.value() == ctx.values[r.index]


def test_displays_show_the_parts() -> None:
    ctx = _gated_context()
    r = make_rounds(ctx, Level.WEIGHTS, 1, seed=0).rounds[0]
    text = render_hints(r.hints.to_dict())
    assert "- gate: g:" in text and "- up: u:" in text and "up bias" in text and "stored as float16" in text
    sm, ln = SoftmaxNorm(1.0, 4), LayerNormStats(0.0, 2.0, 1.0, 0.0)
    solu = Contributions(TERMS, 0.0, "solu_ln", softmax=sm, layernorm=ln)
    stats = {"min": 0, "max": 1, "mean": 0, "scale": 1}
    prompt = render_hints({"unit_id": "u", "stats": stats, "contributions": solu.to_dict()})
    assert "log_z (softmax normaliser over the layer's 4 units): 1" in prompt and "LayerNorm std: 2" in prompt
    table = contributions_table(solu)
    assert table.title is not None and "level 3:" in str(table.title) and "approximate" not in str(table.title)
    rows = [str(cell) for col in table.columns for cell in col._cells]
    assert any("log_z" in cell for cell in rows) and any("LayerNorm gain" in cell for cell in rows)
    approx = contributions_table(Contributions(TERMS, 0.0, "softmax"))
    assert "level 3 · approximate" in str(approx.title)
