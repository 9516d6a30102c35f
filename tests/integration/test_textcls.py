"""The textcls task: which corpus of a mixture a window comes from — trained, recorded, baselined, playable."""

from __future__ import annotations

import gzip
import math
from pathlib import Path

import pytest
import torch

from mirrorneuron.config import BUILTIN_CORPORA
from mirrorneuron.models.loader import zoo_adapter
from mirrorneuron.models.textcls import naive_bayes_logits
from mirrorneuron.models.train import train, validation_metrics
from mirrorneuron.models.transformer import TextClassifier, TransformerConfig
from mirrorneuron.models.zoo import ZooConfig, load_checkpoint
from mirrorneuron.units.wiring import _transformer_links


def test_naive_bayes_baseline_matches_hand_computed_log_likelihoods() -> None:
    trains = [torch.tensor([0, 0, 1]), torch.tensor([1, 1, 2])]  # add-one counts: [3, 2, 1] and [1, 3, 2]
    nb = naive_bayes_logits(trains, torch.tensor([[0, 1]]), 3)
    first = [math.log(3 / 6), math.log(1 / 6)]
    second = [first[0] + math.log(2 / 6), first[1] + math.log(3 / 6)]
    assert nb.shape == (1, 2, 2)
    assert nb[0].flatten().tolist() == pytest.approx(first + second)


@pytest.fixture(scope="module")
def two_texts(tmp_path_factory: pytest.TempPathFactory) -> str:
    folder = tmp_path_factory.mktemp("texts")
    for name in ("austen", "kjv"):
        text = gzip.decompress((BUILTIN_CORPORA / f"{name}.txt.gz").read_bytes()).decode()[:60_000]
        (folder / f"{name}.txt").write_text(text)
    return f"{folder / 'austen.txt'}+{folder / 'kjv.txt'}"


def test_textcls_learns_to_tell_corpora_apart_and_records_its_figures(two_texts: str, isolated_home: Path) -> None:
    tcfg = TransformerConfig(vocab_size=300, d_model=16, n_heads=2, n_layers=1, d_mlp=32, n_ctx=16)
    cfg = ZooConfig(name="cls", task="textcls", corpus=two_texts, transformer=tcfg, steps=150, lr=1e-2, batch_size=16)
    metrics = train(cfg, isolated_home / "zoo" / "cls")
    assert metrics["chance_accuracy"] == 0.5 and metrics["chance_loss"] == pytest.approx(math.log(2), abs=1e-4)
    assert metrics["val_accuracy"] > 0.7  # Austen and the KJV differ in almost every window
    assert metrics["val_loss"] < math.log(2) and metrics["unigram_val_loss"] < math.log(2)
    zm = load_checkpoint(isolated_home / "zoo" / "cls")
    assert isinstance(zm.module, TextClassifier) and zm.module.class_names == cfg.classes
    measured = validation_metrics(zm.config, zm.module, zm.tokenizer)
    for key, value in measured.items():
        assert value == pytest.approx(metrics[key], abs=5.1e-5), key
    # the model plays like any text model; its last MLP's downstream links name classes, not tokens
    adapter = zoo_adapter("cls")
    acts = adapter.activations(adapter.encode("In the beginning")[None], "blocks.0.mlp.post")
    assert adapter.modality == "text" and acts.shape[-1] == 32
    _, down = _transformer_links(zm.module, "blocks.0.mlp.post", 3, adapter)
    assert down and all(link.label.startswith("class ") for link in down)
