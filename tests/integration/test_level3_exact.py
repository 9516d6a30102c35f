"""Level 3 is exact: every level-3 round's JSON payload alone gives the true value, for every unit kind, site
kind and model the suite can build offline (the check itself: ``tests/level3_check.py``).

Covered: the shipped tiny-gelu (``mlp.post`` and ``mlp.pre``), untrained SoLU (``mlp.post`` = LayerNorm(SoLU),
``mlp.mid`` = SoLU) and ReLU zoo configs, a float32 harvest, the shipped digits MLP and CNN, probes, SAE
features and directions, tiny random-config Hugging Face Llama (gated MLP), BERT (MiniLM's architecture) and
GPT-2, and TransformerLens models (GELU, SoLU + LayerNorm, a gated Llama conversion with a non-zero ``b_in``).
The planted-fault tests at the bottom show the check fails when the up part, the rounding, SoLU's normaliser
or LayerNorm is left out, or when a payload misreports its precision.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from tiny_models import VOCAB, save_tiny_bert, save_tiny_llama, tiny_tl, tiny_tokenizer
from tokenizers import Tokenizer

from level3_check import Case, level3_cases, verify
from mirrorneuron.config import BUILTIN_ZOO
from mirrorneuron.corpus import load_corpus
from mirrorneuron.harvest.cache import Harvest
from mirrorneuron.harvest.run import HarvestSpec, harvest
from mirrorneuron.models.adapter import TorchAdapter
from mirrorneuron.models.loader import zoo_adapter
from mirrorneuron.models.tokenizer import load_tokenizer
from mirrorneuron.models.zoo import REGISTRY
from mirrorneuron.units import open_unit
from mirrorneuron.units.context import NeuronContext
from mirrorneuron.units.directions import add_direction
from mirrorneuron.units.probes import train_probe
from mirrorneuron.units.sae_train import train_sae


def _harvest(adapter: TorchAdapter, root: Path, sites: tuple[str, ...], folder: str = "", **kw: Any) -> Harvest:
    small = {"corpus": str(root / "corpus.txt"), "max_windows": 8, "batch_size": 4}  # seconds, not a whole book
    spec = HarvestSpec(sites=sites, sample_size=300, **(small | kw))
    return harvest(adapter, spec, root / (folder or adapter.name))


def _neuron_cases(adapter: TorchAdapter, h: Harvest, units: dict[str, int]) -> Iterator[tuple[str, list[Case]]]:
    for site, index in units.items():
        yield site, level3_cases(NeuronContext(h, adapter, site, index))


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("level3")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MIRRORNEURON_HOME", str(path / "home"))  # the shipped models, whatever the user's home holds
        (path / "corpus.txt").write_text(load_corpus("austen").documents[0][:60_000])  # ~200 windows
        yield path


def _random_zoo(name: str) -> TorchAdapter:
    """An untrained zoo config (random init) with the shipped text tokenizer."""
    torch.manual_seed(0)
    tok = load_tokenizer(BUILTIN_ZOO / "tiny-gelu" / "tokenizer.json")
    return TorchAdapter(f"{name}-random", REGISTRY[name].build(), "text", tok, "random-init", 64)


ZOO_TEXT = {
    "tiny-gelu": {"blocks.0.mlp.post": 17, "blocks.1.mlp.post": 3, "blocks.1.mlp.pre": 5},
    "tiny-solu": {"blocks.0.mlp.post": 17, "blocks.1.mlp.post": 40, "blocks.1.mlp.mid": 2},
    "tiny-relu": {"blocks.0.mlp.post": 11, "blocks.1.mlp.post": 3},
}


@pytest.mark.parametrize("name", list(ZOO_TEXT))
def test_zoo_language_models(name: str, root: Path) -> None:
    adapter = zoo_adapter(name) if name == "tiny-gelu" else _random_zoo(name)
    h = _harvest(adapter, root, tuple(ZOO_TEXT[name]))
    for _site, cases in _neuron_cases(adapter, h, ZOO_TEXT[name]):
        verify(cases, "float16")


@pytest.mark.parametrize(
    ("name", "units"),
    [
        ("digits-mlp", {"layers.0.post": 7, "layers.1.post": 30, "layers.1.pre": 2, "logits": 4}),
        ("digits-cnn", {"conv.0.post": 100, "conv.1.post": 300, "fc.post": 9, "logits": 3}),
    ],
)
def test_digits_models(name: str, units: dict[str, int], root: Path) -> None:
    adapter = zoo_adapter(name)
    h = _harvest(adapter, root, tuple(units), corpus="digits", max_windows=None, batch_size=256)
    for _site, cases in _neuron_cases(adapter, h, units):
        verify(cases, "float16")


def test_float32_harvest_is_exact_too(root: Path) -> None:
    adapter = _random_zoo("tiny-solu")
    h = _harvest(adapter, root, ("blocks.0.mlp.post",), "f32", dtype="float32")
    verify(level3_cases(NeuronContext(h, adapter, "blocks.0.mlp.post", 9)), "float32")


@pytest.fixture(scope="module")
def readout_harvest(root: Path) -> Harvest:
    sites = ("blocks.1.resid.post", "blocks.1.mlp.post")
    return _harvest(zoo_adapter("tiny-gelu"), root, sites, "readouts", max_windows=40)


def test_probes_sae_features_and_directions(readout_harvest: Harvest, tmp_path: Path) -> None:
    h, site = readout_harvest, "blocks.1.resid.post"
    train_probe("tiny-gelu", site, "capitalised", harvest=h, max_examples=2000)
    sae = train_sae("tiny-gelu", site, 32, 0.1, steps=60, batch_size=256, harvest=h, name="s32").sae
    feature = int(np.argmax((sae.encode(h.activations(site)[:8]) > 0).mean((0, 1))))  # a lively feature
    np.save(tmp_path / "v.npy", np.random.default_rng(0).normal(size=64))
    add_direction("tiny-gelu", site, "rand", file=tmp_path / "v.npy")
    np.save(tmp_path / "m.npy", np.random.default_rng(1).normal(size=256))
    add_direction("tiny-gelu", "blocks.1.mlp.post", "mlpdir", file=tmp_path / "m.npy")
    for unit in (
        f"{site}/probe/capitalised",
        f"{site}/sae_feature/s32:{feature}",
        f"{site}/direction/rand",
        "blocks.1.mlp.post/direction/mlpdir",
    ):
        verify(level3_cases(open_unit("tiny-gelu", unit, harvest_dir=h.path)), "float64")


@pytest.fixture(scope="module")
def tok() -> Tokenizer:
    return tiny_tokenizer()  # trains a BPE: once per module


@pytest.fixture(scope="module")
def hf_folders(root: Path, tok: Tokenizer) -> dict[str, Path]:
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    torch.manual_seed(2)
    gpt2 = root / "gpt2"
    GPT2LMHeadModel(GPT2Config(vocab_size=VOCAB, n_embd=32, n_layer=2, n_head=4, n_positions=128)).save_pretrained(gpt2)
    PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>").save_pretrained(gpt2)
    return {"llama": save_tiny_llama(root / "llama", tok), "bert": save_tiny_bert(root / "bert", tok), "gpt2": gpt2}


@pytest.mark.parametrize("kind", ["llama", "bert", "gpt2"])
def test_hugging_face_models(kind: str, hf_folders: dict[str, Path], root: Path) -> None:
    from mirrorneuron.models.hf import hf_adapter

    adapter = hf_adapter(hf_folders[kind])
    units = {"blocks.0.mlp.post": 5, "blocks.1.mlp.post": 21}
    h = _harvest(adapter, root, tuple(units), kind)
    for _site, cases in _neuron_cases(adapter, h, units):
        if kind == "llama":
            assert all(c["nonlinearity"] == "silu_times_up" and len(c["up"]["terms"]) == 32 for c, _, _ in cases)
        verify(cases, "float16")


@pytest.mark.parametrize("act_fn", ["gelu", "solu_ln", "llama"])
def test_transformer_lens_models(act_fn: str, hf_folders: dict[str, Path], root: Path, tok: Tokenizer) -> None:
    from mirrorneuron.models.hf import load_hf
    from mirrorneuron.models.tl import tl_adapter, tl_from_hf_llama

    if act_fn == "llama":  # a gated MLP: act(x W_gate) · (x W_in) + b_in
        tl = tl_from_hf_llama(load_hf(hf_folders["llama"])[0])
        with torch.no_grad():
            tl.blocks[1].mlp.b_in.normal_(0.0, 0.1)  # TL adds b_in after the product: the payload's offset
    else:
        tl = tiny_tl(act_fn)
    adapter = tl_adapter(tl, f"tl-{act_fn}", tok)
    units = {"blocks.0.mlp.post": 5, "blocks.1.mlp.post": 21}
    h = _harvest(adapter, root, tuple(units), f"tl-{act_fn}")
    for _site, cases in _neuron_cases(adapter, h, units):
        verify(cases, "float16")


# --- the check catches what it is for ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def llama_cases(hf_folders: dict[str, Path], root: Path) -> list[Case]:
    from mirrorneuron.models.hf import hf_adapter

    adapter = hf_adapter(hf_folders["llama"])
    h = _harvest(adapter, root, ("blocks.1.mlp.post",), "plant-llama")
    return level3_cases(NeuronContext(h, adapter, "blocks.1.mlp.post", 21), 8)


@pytest.fixture(scope="module")
def solu_cases(root: Path) -> list[Case]:
    adapter = _random_zoo("tiny-solu")
    h = _harvest(adapter, root, ("blocks.0.mlp.post",), "plant-solu")
    return level3_cases(NeuronContext(h, adapter, "blocks.0.mlp.post", 17), 8)


def test_planted_faults_in_the_recomputation_fail(llama_cases: list[Case], solu_cases: list[Case]) -> None:
    verify(llama_cases, "float16")
    verify(solu_cases, "float16")
    for cases, part in [(llama_cases, "up"), (llama_cases, "rounding"), (solu_cases, "softmax")]:
        with pytest.raises(AssertionError):
            verify(cases, "float16", frozenset({part}))
    with pytest.raises(AssertionError):
        verify(solu_cases, "float16", frozenset({"layernorm"}))


def test_a_payload_that_hides_its_precision_fails(llama_cases: list[Case]) -> None:
    """The old payload: contributions from an fp32 forward, no word of the fp16 cache."""
    unrounded = [({**c, "precision": "float64"}, truth, scale) for c, truth, scale in llama_cases]
    with pytest.raises(AssertionError, match="stored as float16"):
        verify(unrounded, "float16")
    no_up = [({**c, "up": {"terms": [], "bias": 1.0}}, truth, scale) for c, truth, scale in llama_cases]
    with pytest.raises(AssertionError, match="recomputed"):
        verify(no_up, "float16")
