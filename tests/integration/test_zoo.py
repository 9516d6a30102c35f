import json
import shutil
from pathlib import Path

import pytest
import torch

from mirrorneuron.models.loader import zoo_adapter
from mirrorneuron.models.train import train, validation_metrics
from mirrorneuron.models.zoo import REGISTRY, ZooModel, load_checkpoint, load_model
from mirrorneuron.types import UserError


def test_registry_covers_the_training_knobs() -> None:
    acts = {c.activation for c in REGISTRY.values()}
    assert {"relu", "gelu", "solu_ln"} <= acts
    assert any(c.l1 > 0 for c in REGISTRY.values()) and any(c.optimizer == "sgd" for c in REGISTRY.values())
    assert {c.vision.arch for c in REGISTRY.values() if c.vision} == {"mlp", "cnn"}


def _assert_recorded(zm: ZooModel) -> None:
    """The checkpoint's weights, evaluated on the validation split by the trainer's own code, give the
    figures its metrics.json records (rounded there to 4 decimals)."""
    measured = validation_metrics(zm.config, zm.module, zm.tokenizer)
    assert measured.keys() <= zm.metrics.keys()
    for key, value in measured.items():
        assert value == pytest.approx(zm.metrics[key], abs=5.1e-5), key


@pytest.mark.parametrize("name", ["tiny-gelu", "digits-mlp", "digits-cnn"])
def test_shipped_weights_give_the_recorded_validation_figures(name: str) -> None:
    zm = load_model(name)
    assert zm.path.parent.parent.name == "data", zm.path  # the weights the package ships, not a user's
    _assert_recorded(zm)
    if zm.config.task == "lm":
        assert zm.metrics["val_loss"] < zm.metrics["unigram_val_loss"] - 1.0
    else:
        assert zm.metrics["val_accuracy"] > 0.9
    # planted fault: perturb one weight tensor slightly; the recomputed figures no longer match
    weight = max(zm.module.parameters(), key=lambda p: p.numel())
    with torch.no_grad():
        weight.add_(0.05 * weight.std() * torch.randn(weight.shape, generator=torch.Generator().manual_seed(0)))
    with pytest.raises(AssertionError, match="val_loss"):
        _assert_recorded(zm)


@pytest.mark.parametrize("name", ["digits-mlp", "digits-cnn", "digits-mlp-l1"])
def test_digits_training_is_reproducible(tmp_path: Path, name: str) -> None:
    cfg = REGISTRY[name].model_copy(update={"steps": 60})
    a, b = train(cfg, tmp_path / "a"), train(cfg, tmp_path / "b")
    assert a["val_loss"] == b["val_loss"]
    assert a["val_accuracy"] > 0.5  # 60 steps already learn digits well above chance (0.1)


def test_lm_training_is_reproducible_and_saves_everything(small_lm_dir: Path, tmp_path: Path) -> None:
    cfg = REGISTRY["tiny-gelu"].model_copy(update={"steps": 30})
    again = train(cfg, tmp_path / "again")
    first = json.loads((small_lm_dir / "metrics.json").read_text())
    assert again["val_loss"] == pytest.approx(first["val_loss"], abs=1e-3)
    _assert_recorded(load_checkpoint(small_lm_dir))  # the trainer's figures (from its own streams) = a fresh evaluation
    assert {p.name for p in small_lm_dir.iterdir()} == {
        "model.safetensors",
        "config.json",
        "metrics.json",
        "tokenizer.json",
    }


@pytest.mark.parametrize("act", ["relu", "solu_ln"])
def test_activation_variants_expose_neuron_sites(act: str) -> None:
    model = (
        REGISTRY["tiny-gelu"]
        .model_copy(
            update={"transformer": REGISTRY["tiny-gelu"].transformer.model_copy(update={"act_fn": act})}  # type: ignore[union-attr]
        )
        .build()
    )
    from mirrorneuron.models.adapter import TorchAdapter

    adapter = TorchAdapter("t", model, "text")
    acts = adapter.run(torch.randint(0, 2048, (2, 16)), ["blocks.1.mlp.post"])["blocks.1.mlp.post"]
    assert acts.shape == (2, 16, 256)
    if act == "relu":
        assert (acts >= 0).all()


def test_corrupt_and_missing_checkpoints(small_lm_dir: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    shutil.copytree(small_lm_dir, bad)
    (bad / "model.safetensors").write_bytes(b"garbage" * 10)
    with pytest.raises(UserError, match="corrupt checkpoint"):
        load_checkpoint(bad)
    (bad / "model.safetensors").unlink()
    with pytest.raises(UserError, match="missing"):
        load_checkpoint(bad)
    (bad / "config.json").write_text("{not json")
    with pytest.raises(UserError, match="invalid"):
        load_checkpoint(bad)
    with pytest.raises(UserError, match="not trained yet"):
        load_model("tiny-relu")
    with pytest.raises(UserError, match="unknown model"):
        load_model("no-such-model")


def test_adapter_reads_stops_early_and_patches(small_lm: str) -> None:
    adapter = zoo_adapter(small_lm)
    ids = adapter.encode("It is a truth universally acknowledged")
    full = adapter.run(torch.from_numpy(ids[None]), ["blocks.0.mlp.post", "blocks.1.resid.post"])
    assert full["blocks.0.mlp.post"].shape == (1, len(ids), 256)
    # fresh-input API equals the harvest read-out
    assert (adapter.activations(ids[None], "blocks.0.mlp.post") == full["blocks.0.mlp.post"].numpy()).all()
    with adapter.patched({"blocks.0.mlp.post": torch.zeros_like}):
        patched = adapter.run(torch.from_numpy(ids[None]), ["blocks.0.mlp.post", "blocks.1.resid.post"])
    assert (patched["blocks.0.mlp.post"] == 0).all()
    assert not torch.allclose(patched["blocks.1.resid.post"], full["blocks.1.resid.post"])
    with pytest.raises(UserError, match="unknown site"):
        adapter.run(torch.from_numpy(ids[None]), ["blocks.9.mlp.post"])
    assert adapter.tokens(ids[:3]) == ["It", " is", " a"]
