"""Imitability per knob value: means of per-unit correlations with their intervals, next to capability."""

import math

import pytest

from mirrorneuron.analysis.sweeps import imitability_by_knob


def _manifest() -> dict:
    def model(name: str, act: str, seed: int, val_loss: float) -> dict:
        attrs = {"val_loss": val_loss, "unigram_val_loss": 6.0, "val_accuracy": None}
        return {"name": name, "knobs": {"transformer.act_fn": act}, "seed": seed, "attributes": attrs}

    models = [model("a", "relu", 0, 4.0), model("b", "relu", 1, 5.0), model("c", "gelu", 0, 3.0)]
    return {"spec": {"grid": {"transformer.act_fn": ["relu", "gelu"]}}, "models": models}


def _play(model: str, unit: str, level: int, corr: float, bot: str = "ridge") -> dict:
    return {"model": model, "unit": unit, "level": level, "bot": bot, "rounds": 10, "correlation": corr}


def test_knob_values_average_per_unit_correlations_with_a_95_interval() -> None:
    plays = [
        _play("a", "a/u1", 0, 0.2),
        _play("a", "a/u1", 1, 0.6),
        _play("b", "b/u1", 0, 0.4),
        _play("c", "c/u1", 0, 0.9),
        _play("c", "c/u1", 0, 0.1, bot="mean"),
    ]
    rows = {(r["knob"], r["value"], r["bot"], r["level"]): r for r in imitability_by_knob(plays, _manifest())}
    relu0 = rows[("transformer.act_fn", "relu", "ridge", 0)]
    assert relu0["models"] == 2 and relu0["units"] == 2 and relu0["correlation"] == pytest.approx(0.3)
    half = 1.96 * math.sqrt(((0.2 - 0.3) ** 2 + (0.4 - 0.3) ** 2) / 1) / math.sqrt(2)
    assert (relu0["ci_low"], relu0["ci_high"]) == pytest.approx((0.3 - half, 0.3 + half))
    assert relu0["val_loss"] == pytest.approx(4.5) and relu0["unigram_val_loss"] == 6.0
    assert relu0["val_accuracy"] is None
    relu_all = rows[("transformer.act_fn", "relu", "ridge", "all")]
    assert relu_all["units"] == 3 and relu_all["correlation"] == pytest.approx(0.4)
    gelu = rows[("transformer.act_fn", "gelu", "ridge", 0)]
    assert gelu["correlation"] == 0.9 and math.isnan(gelu["ci_low"]) and gelu["val_loss"] == 3.0
    assert rows[("transformer.act_fn", "gelu", "mean", 0)]["correlation"] == pytest.approx(0.1)
    # seeds are a knob too: seed 0 holds models a and c
    seed0 = rows[("seed", 0, "ridge", "all")]
    assert seed0["models"] == 2 and seed0["correlation"] == pytest.approx((0.2 + 0.6 + 0.9) / 3)
    assert ("transformer.act_fn", "gelu", "ridge", 1) not in rows  # no plays, no row
