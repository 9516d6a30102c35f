"""Splicing a classifier (the shipped digits MLP) on its held-out validation images: accuracy kept."""

from __future__ import annotations

import numpy as np
import pytest

from mirrorneuron.buildout.slices import digits_slice, model_task
from mirrorneuron.buildout.splice import Predictor, Splicer, SpliceUnit
from mirrorneuron.models.adapter import TorchAdapter
from mirrorneuron.models.loader import zoo_adapter

SITE = "layers.0.post"


@pytest.fixture(scope="module")
def adapter() -> TorchAdapter:
    return zoo_adapter("digits-mlp")


@pytest.fixture(scope="module")
def splicer(adapter: TorchAdapter) -> Splicer:
    return Splicer(adapter, digits_slice(200))


def true_activation(adapter: TorchAdapter, index: int) -> Predictor:
    return lambda x: adapter.activations(x, SITE)[..., index]


def test_true_activations_keep_the_accuracy(adapter: TorchAdapter, splicer: Splicer) -> None:
    units = [SpliceUnit(SITE, i) for i in range(adapter.width(SITE))]
    r = splicer.splice({u: true_activation(adapter, u.index) for u in units})
    assert r.clean["accuracy"] > 0.8 and r.ablated["accuracy"] < 0.5  # the whole layer ablated: near chance
    assert r.accuracy_kept == pytest.approx(1.0) and r.loss_recovered == pytest.approx(1.0)
    shuffled = {u: true_activation(adapter, (u.index + 1) % len(units)) for u in units}  # each unit its neighbour's
    wrong = splicer.splice(shuffled)
    assert wrong.accuracy_kept is not None and wrong.accuracy_kept < 0.5


def test_the_slice_is_the_validation_split_with_labels(adapter: TorchAdapter) -> None:
    task = model_task(adapter, 50)
    assert task.kind == "classifier" and task.inputs.shape == (50, 8, 8) and task.labels is not None
    assert "validation split" in task.slice and set(np.unique(task.labels)) <= set(range(10))
