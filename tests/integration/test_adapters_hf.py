"""Hugging Face adapter on tiny random-config Llama and BERT models saved to temp folders and loaded by path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from tiny_models import save_tiny_bert, save_tiny_llama, tiny_tokenizer

from mirrorneuron.game import Level, make_rounds, run_session, truth_from
from mirrorneuron.harvest.cache import Harvest
from mirrorneuron.harvest.run import HarvestSpec, harvest
from mirrorneuron.models.adapter import TorchAdapter
from mirrorneuron.models.hf import default_layers, hf_adapter
from mirrorneuron.players import make_bot
from mirrorneuron.players.data import BotData
from mirrorneuron.types import UserError
from mirrorneuron.units.context import NeuronContext

pytest.importorskip("transformers")
TEXT = "It is a truth universally acknowledged, that a single man in possession of a good fortune"


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("hf")
    tok = tiny_tokenizer()
    return {"llama": save_tiny_llama(root / "llama", tok), "bert": save_tiny_bert(root / "bert", tok)}


@pytest.fixture(scope="module")
def adapters(folders: dict[str, Path]) -> dict[str, TorchAdapter]:
    return {k: hf_adapter(p) for k, p in folders.items()}


def _reference(folder: Path, text: str) -> tuple[Any, dict[str, torch.Tensor]]:
    """The raw transformers model on ``text`` with the tokenizer's own special tokens, read by plain hooks."""
    from transformers import AutoModel, AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(folder)
    llama = folder.name == "llama"
    model = (AutoModelForCausalLM if llama else AutoModel).from_pretrained(folder).eval()
    layers = model.model.layers if llama else model.encoder.layer
    got: dict[str, torch.Tensor] = {}
    for i, layer in enumerate(layers):
        down = layer.mlp.down_proj if llama else layer.output.dense
        down.register_forward_pre_hook(lambda _m, a, i=i: got.__setitem__(f"blocks.{i}.mlp.post", a[0]))
        layer.register_forward_hook(
            lambda _m, _a, out, i=i: got.__setitem__(
                f"blocks.{i}.resid.post", out[0] if isinstance(out, tuple) else out
            )
        )
    enc = tok(text, return_tensors="pt")
    with torch.no_grad():
        out = model(**enc, output_hidden_states=True)
    return out, got


@pytest.mark.parametrize("kind", ["llama", "bert"])
def test_sites_match_the_transformers_model(
    kind: str, adapters: dict[str, TorchAdapter], folders: dict[str, Path]
) -> None:
    adapter = adapters[kind]
    assert adapter.site_names() == [f"blocks.{i}.{s}" for i in range(2) for s in ("mlp.post", "resid.post")]
    assert adapter.width("blocks.0.mlp.post") == 64 and adapter.width("blocks.1.resid.post") == 32
    assert adapter.tokenizer is not None and adapter.n_ctx == 64 and adapter.default_windows == 300
    ids = adapter.encode(TEXT)
    acts = adapter.run(torch.from_numpy(ids)[None], adapter.site_names(), stop_early=False)
    out, ref = _reference(folders[kind], TEXT)
    trim = slice(1, -1) if kind == "bert" else slice(None)  # [CLS] … [SEP] are hidden from the sites
    for site, a in acts.items():
        assert a.shape == (1, len(ids), adapter.width(site))
        torch.testing.assert_close(a, ref[site][:, trim].float(), atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(acts["blocks.0.resid.post"], out.hidden_states[1][:, trim], atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("kind", ["llama", "bert"])
def test_patching_a_site_changes_the_output(kind: str, adapters: dict[str, TorchAdapter]) -> None:
    adapter = adapters[kind]
    x = torch.from_numpy(adapter.encode(TEXT))[None]
    with torch.no_grad():
        before = adapter.module(x)
        with adapter.patched({"blocks.0.mlp.post": lambda a: torch.zeros_like(a)}):
            zeroed = adapter.module(x)
            seen = adapter.run(x, ["blocks.0.mlp.post"])["blocks.0.mlp.post"]
        after = adapter.module(x)
    assert not torch.allclose(before, zeroed)
    assert float(seen.abs().max()) == 0.0  # what the site passes on is what was written
    torch.testing.assert_close(before, after)  # hooks are gone after the block
    with torch.no_grad(), adapter.patched({"blocks.1.resid.post": lambda a: a + 1.0}):
        shifted = adapter.module(x)
    assert not torch.allclose(before, shifted)


@pytest.mark.parametrize("kind", ["llama", "bert"])
def test_harvest_and_play_every_level(kind: str, adapters: dict[str, TorchAdapter], tmp_path: Path) -> None:
    adapter = adapters[kind]
    spec = HarvestSpec(max_windows=40, batch_size=8, sample_size=1000)
    h: Harvest = harvest(adapter, spec, tmp_path / "h")
    assert h.sites == ["blocks.0.mlp.post", "blocks.1.mlp.post"] and h.n_examples == 40 * 64
    ctx = NeuronContext(h, adapter, "blocks.1.mlp.post", 3)
    data = BotData(ctx.values, ctx.target_tokens())
    for level in Level:
        rs = make_rounds(ctx, level, 5, seed=1)
        assert len(rs.rounds) == 5
        result = run_session(make_bot("ridge", data), rs.rounds, truth_from(ctx))
        assert len(result.scores) == 5 and np.isfinite(result.scores).all()
    c = ctx.contributions(7)
    if kind == "bert":  # Linear + GELU: the contributions give the value (fp16 cache)
        assert c.nonlinearity == "gelu" and c.elementwise
        assert c.value() == pytest.approx(float(ctx.values[7]), abs=2e-3)
    else:  # silu(gate)·up: gate terms shown, flagged not elementwise
        assert c.nonlinearity == "silu_times_up" and not c.elementwise
        assert len(c.terms) == 32 and c.bias == 0.0
    labels = {n.group for n in ctx.neighbours(7)}
    assert {"upstream", "same-layer", "probe"} <= labels


def test_layers_option_and_default_choice(folders: dict[str, Path]) -> None:
    adapter = hf_adapter(folders["llama"], "only-one", layers=[1])
    assert [s for s in adapter.site_names() if s.endswith("mlp.post")] == ["blocks.1.mlp.post"]
    assert adapter.name == "only-one"
    assert default_layers(2) == [0, 1] and default_layers(6) == [3, 5] and default_layers(30) == [7, 15]
    with pytest.raises(UserError, match="layer 5 out of range"):
        hf_adapter(folders["llama"], layers=[5])


def test_checksum_follows_the_weights(folders: dict[str, Path], adapters: dict[str, TorchAdapter]) -> None:
    assert adapters["llama"].checksum != adapters["bert"].checksum
    assert hf_adapter(folders["bert"]).checksum == adapters["bert"].checksum


def test_bad_paths_are_user_errors(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no such folder"):
        hf_adapter(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="not a model folder"):
        hf_adapter(tmp_path / "empty")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{not json")
    with pytest.raises(UserError, match="cannot load"):
        hf_adapter(broken)


def test_gpt2_conv1d_architecture(tmp_path: Path) -> None:
    """GPT-2 keeps its MLP weights in Conv1D ([in, out]); level 3 is exact with the tanh GELU."""
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    tok = tiny_tokenizer()
    torch.manual_seed(2)
    cfg = GPT2Config(vocab_size=tok.get_vocab_size(), n_embd=32, n_layer=2, n_head=4, n_positions=128)
    GPT2LMHeadModel(cfg).save_pretrained(tmp_path / "gpt2")
    PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>").save_pretrained(tmp_path / "gpt2")
    adapter = hf_adapter(tmp_path / "gpt2")
    assert adapter.width("blocks.1.mlp.post") == 128 and adapter.sites["blocks.1.mlp.post"].act == "gelu_tanh"
    h = harvest(adapter, HarvestSpec(max_windows=10, batch_size=5, sample_size=500), tmp_path / "h")
    ctx = NeuronContext(h, adapter, "blocks.1.mlp.post", 4)
    for i in (0, 17, 300):
        assert ctx.contributions(i).value() == pytest.approx(float(ctx.values[i]), abs=2e-3)
