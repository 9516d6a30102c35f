"""TransformerLens adapter on a tiny HookedTransformer, and TL's Llama conversion of a tiny transformers Llama."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from tiny_models import VOCAB, save_tiny_llama, tiny_tl, tiny_tokenizer

from mirrorneuron.game import Level, make_rounds, run_session, truth_from
from mirrorneuron.harvest.run import HarvestSpec, harvest
from mirrorneuron.models.hf import hf_adapter, load_hf
from mirrorneuron.players import make_bot
from mirrorneuron.players.data import BotData
from mirrorneuron.types import UserError
from mirrorneuron.units.context import NeuronContext

pytest.importorskip("transformer_lens")
from mirrorneuron.models.tl import tl_adapter, tl_from_hf_llama


def test_sites_are_the_hook_points() -> None:
    model = tiny_tl()
    adapter = tl_adapter(model, "tiny-tl", tiny_tokenizer())
    assert adapter.site_names() == [f"blocks.{i}.{s}" for i in range(2) for s in ("mlp.post", "resid.post")]
    x = torch.randint(0, VOCAB, (3, 20))
    acts = adapter.run(x, adapter.site_names(), stop_early=False)
    _, cache = model.run_with_cache(x)
    for i in range(2):
        torch.testing.assert_close(acts[f"blocks.{i}.mlp.post"], cache[f"blocks.{i}.mlp.hook_post"])
        torch.testing.assert_close(acts[f"blocks.{i}.resid.post"], cache[f"blocks.{i}.hook_resid_post"])
    early = adapter.run(x, ["blocks.0.mlp.post"])  # stops after the site: same values
    torch.testing.assert_close(early["blocks.0.mlp.post"], cache["blocks.0.mlp.hook_post"])


def test_patching_changes_the_logits() -> None:
    model = tiny_tl()
    adapter = tl_adapter(model, "tiny-tl", tiny_tokenizer())
    x = torch.randint(0, VOCAB, (2, 16))
    with torch.no_grad():
        before = model(x)
        with adapter.patched({"blocks.1.mlp.post": lambda a: a * 0}):
            after = adapter.module(x)
    assert not torch.allclose(before, after)
    with torch.no_grad():
        torch.testing.assert_close(model(x), before)


def test_harvest_and_play_every_level(tmp_path: Path) -> None:
    adapter = tl_adapter(tiny_tl(), "tiny-tl", tiny_tokenizer())
    h = harvest(adapter, HarvestSpec(max_windows=30, batch_size=10, sample_size=1000), tmp_path / "h")
    ctx = NeuronContext(h, adapter, "blocks.0.mlp.post", 11)
    for level in Level:
        rs = make_rounds(ctx, level, 4, seed=0)
        result = run_session(make_bot("knn", BotData(ctx.values, ctx.target_tokens())), rs.rounds, truth_from(ctx))
        assert len(result.scores) == 4
    for i in (0, 5, 99):
        c = ctx.contributions(i)
        assert c.nonlinearity == "gelu" and len(c.terms) == 32
        assert c.value() == pytest.approx(float(ctx.values[i]), abs=2e-3)


def test_tl_conversion_of_a_transformers_llama(tmp_path: Path) -> None:
    folder = save_tiny_llama(tmp_path / "llama", tiny_tokenizer())
    hf, _, causal = load_hf(folder)
    assert causal
    tl = tl_from_hf_llama(hf)
    x = torch.randint(0, VOCAB, (2, 24))
    with torch.no_grad():
        torch.testing.assert_close(tl(x), hf(x).logits, atol=1e-4, rtol=1e-4)
    a_tl = tl_adapter(tl, "llama-tl", tiny_tokenizer())
    a_hf = hf_adapter(folder)
    for site in ("blocks.0.mlp.post", "blocks.1.resid.post"):
        torch.testing.assert_close(a_tl.run(x, [site])[site], a_hf.run(x, [site])[site], atol=1e-4, rtol=1e-4)
    assert a_tl.sites["blocks.1.mlp.post"].act == "silu_times_up"
    h = harvest(a_tl, HarvestSpec(max_windows=12, batch_size=6, sample_size=500), tmp_path / "h")
    ctx = NeuronContext(h, a_tl, "blocks.1.mlp.post", 2)
    c = ctx.contributions(3)
    assert not c.elementwise and np.isfinite(c.preactivation)


def test_not_a_hooked_transformer() -> None:
    with pytest.raises(UserError, match="not a TransformerLens"):
        tl_adapter(torch.nn.Linear(2, 2), "x")
