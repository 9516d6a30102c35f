"""Level 3 is exact: every level-3 round's JSON payload alone gives the true value, for every unit kind, site
kind and model the suite can build offline.

Each round goes ``round.to_dict()`` → JSON → back; :func:`recompute` (written here from the payload's field
names, independent of ``Contributions.value()``) computes the value from it, and :func:`verify` compares it with
the truth ``ctx.values[round.index]``:

- tolerance: ``|recomputed − truth| ≤ 1e-3 · max(|truth|, 1e-3 · scale)`` with ``scale = q99 − q01`` of the unit
  (from the round's stats), i.e. 1e-3 relative, and near zero 1e-6 of the unit's range;
- the stored precision: the payload names the cache's precision (``float16`` for a neuron of a default
  harvest, ``float32`` for a float32 one; ``float64`` for read-outs, computed from the cache); for float16,
  whose rounding (up to 2⁻¹¹ relative) dwarfs the float32 forward's noise, the recomputed value equals the
  truth exactly in at least 90% of rounds (a value on a rounding boundary may flip one ulp).

The planted-fault tests at the bottom show the check fails when the up part, the rounding, SoLU's normaliser
or LayerNorm is left out, or when a payload misreports its precision.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from tiny_models import VOCAB, save_tiny_bert, save_tiny_llama, tiny_tl, tiny_tokenizer
from tokenizers import Tokenizer

from mirrorneuron.config import BUILTIN_ZOO
from mirrorneuron.corpus import load_corpus
from mirrorneuron.game import make_rounds
from mirrorneuron.harvest.cache import Harvest
from mirrorneuron.harvest.run import HarvestSpec, harvest
from mirrorneuron.models.adapter import TorchAdapter
from mirrorneuron.models.loader import zoo_adapter
from mirrorneuron.models.tokenizer import load_tokenizer
from mirrorneuron.models.zoo import REGISTRY
from mirrorneuron.units import HarvestedUnit, open_unit
from mirrorneuron.units.context import NeuronContext
from mirrorneuron.units.directions import add_direction
from mirrorneuron.units.probes import train_probe
from mirrorneuron.units.sae_train import train_sae

REL, FLOOR, EXACT_SHARE = 1e-3, 1e-3, 0.9
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


def level3_cases(ctx: HarvestedUnit, n: int = N_ROUNDS) -> list[Case]:
    """(payload read back from JSON, truth, scale) for ``n`` level-3 rounds of ``ctx``."""
    out = []
    for r in make_rounds(ctx, 3, n, seed=0).rounds:
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
    [("digits-mlp", {"layers.0.post": 7, "layers.1.post": 30, "layers.1.pre": 2}), ("digits-cnn", {"fc.post": 9})],
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
