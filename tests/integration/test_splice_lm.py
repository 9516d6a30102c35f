"""Splicing a language model (the shipped tiny-gelu): next-token loss, and a slice held out of the harvest."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from mirrorneuron.buildout.slices import lm_slice
from mirrorneuron.buildout.splice import Splicer, SpliceUnit, Task
from mirrorneuron.harvest.cache import Harvest
from mirrorneuron.harvest.run import HarvestSpec, harvest
from mirrorneuron.models.adapter import TorchAdapter
from mirrorneuron.models.loader import zoo_adapter

SITE = "blocks.0.mlp.post"
WORDS = ["the", "cat", "sat", "on", "a", "mat", "and", "then", "it", "ran", "home", "dog", "at", "fish", "pond"]


@pytest.fixture(scope="module")
def adapter() -> TorchAdapter:
    return zoo_adapter("tiny-gelu")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("lm-splice") / "corpus.txt"
    rng = np.random.default_rng(0)
    path.write_text(" ".join(rng.choice(WORDS, size=12_000)))
    return path


@pytest.fixture(scope="module")
def small_harvest(adapter: TorchAdapter, corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Harvest:
    spec = HarvestSpec(corpus=str(corpus), sites=(SITE,), max_windows=40)
    return harvest(adapter, spec, tmp_path_factory.mktemp("lm-splice-h") / "h")


def overlap(task: Task, h: Harvest) -> int:
    seen = {row.tobytes() for row in np.asarray(h.inputs, dtype=np.int64)}
    return sum(row.tobytes() in seen for row in np.asarray(task.inputs, dtype=np.int64))


def test_the_slice_holds_no_harvested_window(adapter: TorchAdapter, corpus: Path, small_harvest: Harvest) -> None:
    task = lm_slice(adapter, 30, small_harvest, corpus=str(corpus))
    assert task.kind == "lm" and task.inputs.shape == (30, adapter.n_ctx)
    assert overlap(task, small_harvest) == 0 and "not in the harvest" in task.slice
    # the guard itself: the last windows of the corpus, ignoring the harvest, do contain a harvested one
    # (the harvest spreads its windows to the very last), so the overlap check can fire
    naive = lm_slice(adapter, 30, None, corpus=str(corpus))
    assert overlap(naive, small_harvest) > 0


def test_clean_loss_is_the_models_next_token_loss(adapter: TorchAdapter, corpus: Path, small_harvest: Harvest) -> None:
    task = lm_slice(adapter, 16, small_harvest, corpus=str(corpus))
    s = Splicer(adapter, task, batch_size=16)
    with torch.no_grad():
        expected = float(adapter.module.loss(torch.from_numpy(task.inputs)))  # type: ignore[operator]
    assert s.clean["loss"] == pytest.approx(expected, rel=1e-5)
    units = [SpliceUnit(SITE, i) for i in range(0, adapter.width(SITE), 4)]  # a quarter of the layer
    acts = adapter.activations(task.inputs, SITE)  # the true values on the slice, computed once
    truth = s.splice({u: (lambda x, i=u.index: acts[..., i]) for u in units})
    assert truth.ablated["loss"] > truth.clean["loss"] and truth.loss_recovered == pytest.approx(1.0, abs=1e-4)
