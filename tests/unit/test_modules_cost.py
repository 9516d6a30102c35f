"""The connection-cost knob (BIMT-style wiring cost): its value, its config rules and its place in sweeps."""

from __future__ import annotations

import pytest
import torch
from pydantic import ValidationError

from mirrorneuron.models.sweep import attributes, check_knob
from mirrorneuron.models.train import _ConnectionCost
from mirrorneuron.models.transformer import TinyTransformer, TransformerConfig
from mirrorneuron.models.vision import DigitsMLP, VisionConfig
from mirrorneuron.models.zoo import REGISTRY


def _by_hand(w: torch.Tensor) -> float:
    n_out, n_in = w.shape
    pos = lambda i, n: i / (n - 1)  # noqa: E731  evenly spaced on [0, 1]
    return sum(
        abs(float(w[i, j].detach())) * (abs(pos(i, n_out) - pos(j, n_in)) + _ConnectionCost.BIAS)
        for i in range(n_out)
        for j in range(n_in)
    )


def test_cost_is_weight_times_length_summed_over_the_mlp_layers() -> None:
    torch.manual_seed(0)
    net = DigitsMLP(VisionConfig(width=3, n_layers=2, image_size=2, n_classes=2))
    weights = [net.layers[0]["linear"].weight, net.layers[1]["linear"].weight, net.head.weight]
    assert float(_ConnectionCost(net)().detach()) == pytest.approx(sum(_by_hand(w) for w in weights), rel=1e-6)


def test_long_connections_cost_more_than_short_ones() -> None:
    d = _ConnectionCost.distances(5, 5)
    assert d[0, 0] == pytest.approx(_ConnectionCost.BIAS) and d[0, 4] == pytest.approx(1 + _ConnectionCost.BIAS)


def test_transformer_cost_covers_every_mlp_in_and_out_weight() -> None:
    torch.manual_seed(0)
    net = TinyTransformer(TransformerConfig(vocab_size=300, d_model=4, d_mlp=6, n_heads=2, n_layers=2, n_ctx=8))
    expect = sum(_by_hand(w) for b in net.blocks for w in (b.mlp.W_in.weight, b.mlp.W_out.weight))
    cost = _ConnectionCost(net)()
    assert float(cost.detach()) == pytest.approx(expect, rel=1e-5)
    cost.backward()  # differentiable: it trains the weights
    assert net.blocks[0].mlp.W_in.weight.grad is not None and net.embed.weight.grad is None


def test_the_knob_is_a_config_field_sweeps_can_vary_and_record() -> None:
    check_knob("connection_cost")
    cfg = REGISTRY["digits-mlp"].model_copy(update={"connection_cost": 0.003})
    assert attributes(cfg, {})["connection_cost"] == 0.003
    assert REGISTRY["tiny-gelu"].connection_cost == 0.0  # off by default: the shipped models are unchanged
    base = REGISTRY["digits-cnn"].model_dump()
    with pytest.raises(ValidationError, match="connection_cost applies to MLP"):
        REGISTRY["digits-cnn"].model_validate(base | {"connection_cost": 0.01})
    with pytest.raises(ValidationError):
        REGISTRY["digits-mlp"].model_validate(REGISTRY["digits-mlp"].model_dump() | {"connection_cost": -1.0})
