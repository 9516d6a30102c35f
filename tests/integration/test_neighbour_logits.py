"""A last-layer neuron's downstream hints are logits: the window's pass stops at the unembedding's input and each
hint computes only its own logit, which must equal the model's logit for that token at that position."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from mirrorneuron.harvest.cache import Harvest
from mirrorneuron.harvest.run import HarvestSpec, harvest
from mirrorneuron.models.adapter import TorchAdapter
from mirrorneuron.models.loader import zoo_adapter
from mirrorneuron.units.context import NeuronContext, WindowCache

SITE, UNIT = "blocks.1.mlp.post", 7


@pytest.fixture(scope="module")
def adapter() -> TorchAdapter:
    return zoo_adapter("tiny-gelu")


@pytest.fixture(scope="module")
def h(tmp_path_factory: pytest.TempPathFactory, adapter: TorchAdapter) -> Harvest:
    return harvest(adapter, HarvestSpec(max_windows=12), tmp_path_factory.mktemp("logits") / "h")


def _unembed(adapter: TorchAdapter) -> torch.nn.Linear:
    unembed = adapter.module.unembed
    assert isinstance(unembed, torch.nn.Linear)
    return unembed


class OffByOneToken(NeuronContext):
    """Planted fault: each logit read from the next token's row of the unembedding."""

    def _read(self, acts: dict[str, np.ndarray], link: Any, p: int) -> float:
        if link.source == "@logits":
            unembed = _unembed(self.adapter)
            nxt = (link.index + 1) % unembed.weight.shape[0]
            row = unembed.weight[nxt].detach().double().numpy()
            return float(row @ acts["@unembed_in"][p] + float(unembed.bias[nxt].detach()))
        return super()._read(acts, link, p)


def _logit_hints_match(h: Harvest, adapter: TorchAdapter, cls: type[NeuronContext]) -> bool:
    ctx = cls(h, adapter, SITE, UNIT)
    links = [lk for lk in ctx.wiring.downstream if lk.source == "@logits"]
    assert links, "a last-layer neuron's downstream neighbours are logits"
    ok = True
    for w, p in ((0, 3), (5, 40), (11, 63)):
        with torch.inference_mode():
            logits = adapter.module(adapter.to_tensor(h.inputs[[w]]))[0, p].double().numpy()
        hints = {x.label: x.value for x in ctx.neighbours(w * h.positions + p) if x.group == "downstream"}
        ok &= all(abs(hints[lk.label] - logits[lk.index]) <= 1e-5 * (1 + abs(logits[lk.index])) for lk in links)
    return bool(ok)


def test_logit_hints_equal_the_models_logits(h: Harvest, adapter: TorchAdapter) -> None:
    assert _logit_hints_match(h, adapter, NeuronContext)
    assert not _logit_hints_match(h, adapter, OffByOneToken)


def test_the_pass_stops_before_the_unembedding(h: Harvest, adapter: TorchAdapter) -> None:
    calls: list[int] = []
    handle = _unembed(adapter).register_forward_hook(lambda *_: calls.append(1))
    try:
        ctx = NeuronContext(h, adapter, SITE, UNIT, WindowCache())
        assert ctx.prefetch([w * h.positions for w in range(4)]) == 1
        assert len(ctx.neighbours(2 * h.positions + 5)) > 0
    finally:
        handle.remove()
    assert calls == []  # the vocabulary-wide matmul never ran
