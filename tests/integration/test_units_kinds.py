"""Probes, SAE features and directions on the shipped tiny-gelu: trained, saved, opened and played at every level."""

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from mirrorneuron.game import Level, make_rounds, run_session, truth_from
from mirrorneuron.harvest.cache import Harvest
from mirrorneuron.harvest.run import HarvestSpec, harvest
from mirrorneuron.models.loader import zoo_adapter
from mirrorneuron.players import make_bot
from mirrorneuron.players.data import BotData
from mirrorneuron.types import UserError
from mirrorneuron.units import HarvestedUnit, ReadoutContext, open_unit
from mirrorneuron.units.directions import add_direction
from mirrorneuron.units.poly import unit_polysemanticity
from mirrorneuron.units.probes import list_probes, train_probe
from mirrorneuron.units.sae import list_saes
from mirrorneuron.units.sae_train import import_sae, train_sae

SITE = "blocks.1.resid.post"
MODEL = "tiny-gelu"


@pytest.fixture(scope="module")
def h(tmp_path_factory: pytest.TempPathFactory) -> Harvest:
    root = tmp_path_factory.mktemp("units")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MIRRORNEURON_HOME", str(root / "home"))  # the shipped model, whatever the user's home holds
        spec = HarvestSpec(sites=(SITE, "blocks.1.mlp.post"), max_windows=300, sample_size=2000)
        return harvest(zoo_adapter(MODEL), spec, root / "h")


def _play_every_level(ctx: HarvestedUnit) -> None:
    for level in Level:
        rs = make_rounds(ctx, level, 6, seed=2)
        assert len(rs.rounds) == 6
        for r in rs.rounds:
            hints = r.hints.to_dict()
            if level >= Level.NEIGHBOURS:
                groups = {n.group for n in r.hints.neighbours}
                assert {"upstream", "probe"} <= groups
            if level == Level.WEIGHTS:
                c = r.hints.contributions
                assert c is not None and len(c.terms) == 64
                assert c.value() == pytest.approx(ctx.values[r.index], rel=1e-9, abs=1e-9)  # exact
                assert "contributions" in hints


def test_probe_beats_the_base_rate_and_plays(h: Harvest) -> None:
    r = train_probe(MODEL, SITE, "capitalised", harvest=h, max_examples=6000)
    m = r.metrics
    assert m["task"] == "binary" and m["n"] == 6000 and 0.8 < m["base_rate"] < 0.99
    assert m["accuracy"] > m["base_rate"] + 0.02 and m["auc"] > 0.85 and m["balanced_accuracy"] > 0.7
    assert r.path is not None and r.path.exists() and list_probes(MODEL)[0]["metrics"]["accuracy"] == m["accuracy"]
    train_probe(MODEL, SITE, "position", harvest=h, max_examples=3000)  # numeric → ridge, and a sibling
    ctx = open_unit(MODEL, f"{MODEL}/{SITE}/probe/capitalised", harvest_dir=h.path)
    assert isinstance(ctx, ReadoutContext) and ctx.unit_id == f"{MODEL}/{SITE}/probe/capitalised"
    # the probe's value is its logit: positive on capitalised targets far more often than elsewhere
    caps = np.array([t.strip()[:1].isupper() for t in ctx.target_tokens()])
    assert (ctx.values[caps] > 0).mean() > 3 * (ctx.values[~caps] > 0).mean()
    _play_every_level(ctx)
    hints = make_rounds(ctx, Level.NEIGHBOURS, 1, seed=0).rounds[0].hints.neighbours
    assert any(n.group == "same-layer" and n.label == "probe position" for n in hints)
    tokens, acts = ctx.window_activations(5)
    assert len(tokens) == len(acts) == 64
    rs = make_rounds(ctx, Level.WEIGHTS, 20, seed=1)
    res = run_session(make_bot("ridge", BotData(ctx.values, ctx.target_tokens())), rs.rounds, truth_from(ctx))
    assert res.summary.mean_round_score is not None and res.summary.mean_round_score > 95


def test_sae_trains_and_its_features_play(h: Harvest) -> None:
    r = train_sae(MODEL, SITE, 128, 0.1, steps=300, lr=3e-3, batch_size=256, harvest=h, name="s128")
    m = r.metrics
    assert m["fve"] > 0.5 and 0 < m["l0"] < 128 and 0 <= m["dead_fraction"] < 1 and m["mse"] > 0
    assert np.allclose(np.linalg.norm(r.sae.W_dec, axis=1), 1.0, atol=1e-4)  # decoder rows unit-norm
    assert list_saes(MODEL)[0]["name"] == "s128"
    feature = int(np.argmax((r.sae.encode(h.activations(SITE)[:20]) > 0).mean((0, 1))))  # a lively one
    ctx = open_unit(MODEL, f"{SITE}/sae_feature/s128:{feature}", harvest_dir=h.path)
    assert ctx.values.min() == 0.0 and ctx.values.max() > 0
    np.testing.assert_allclose(ctx.values[:640], r.sae.encode(h.activations(SITE)[:10])[..., feature].reshape(-1))
    _play_every_level(ctx)
    hints = make_rounds(ctx, Level.NEIGHBOURS, 1, seed=0).rounds[0].hints.neighbours
    assert sum(n.group == "same-layer" and n.label.startswith("s128:") for n in hints) == 4
    poly = unit_polysemanticity(ctx)
    assert 0 < poly["density"] < 1 and poly["top_distinct"] >= 1 and poly["top_context_clusters"] >= 1
    with pytest.raises(UserError, match=r"features 0\.\.127"):
        open_unit(MODEL, f"{SITE}/sae_feature/s128:128", harvest_dir=h.path)
    with pytest.raises(UserError, match="no SAE 'nope'"):
        open_unit(MODEL, f"{SITE}/sae_feature/nope:1", harvest_dir=h.path)


def _sae_lens() -> Any:
    """The installed ``sae_lens`` (a dev dependency); CI fails without it, elsewhere the test is skipped."""
    try:
        import sae_lens
    except ImportError as e:
        if os.environ.get("CI"):
            pytest.fail(f"sae_lens is not installed in CI ({e})")
        pytest.skip(f"sae_lens is not installed ({e}); pip install -e '.[dev]'")
    return sae_lens


def test_saelens_folder_import(h: Harvest, tmp_path: Path) -> None:
    """A folder written by sae_lens itself (SAELens ≥ 6: ``metadata`` block, a TransformerLens hook name)
    imports, its features play, and their values equal sae_lens' own ``encode`` on the same activations."""
    sl = _sae_lens()
    from sae_lens.saes.sae import SAEMetadata

    acts = h.activations(SITE).reshape(-1, 64).astype(np.float32)
    cfg = sl.StandardSAEConfig(
        d_in=64, d_sae=32, metadata=SAEMetadata(model_name=MODEL, hook_name="blocks.1.hook_resid_post")
    )
    torch.manual_seed(0)
    sae = sl.StandardSAE(cfg)
    with torch.no_grad():  # non-zero biases, so that the b_dec shift and b_enc are both tested
        sae.b_dec.copy_(torch.from_numpy(acts.mean(0)))
        sae.b_enc.normal_(0.0, 0.1)
    folder = tmp_path / "from-saelens"
    sae.save_model(folder)
    written = json.loads((folder / "cfg.json").read_text())
    assert written["metadata"]["hook_name"] == "blocks.1.hook_resid_post" and "hook_name" not in written
    r = import_sae(MODEL, SITE, folder, name="imported", harvest=h)
    with torch.no_grad():
        want = sae.encode(torch.from_numpy(acts)).numpy()
    lively = (want > 0).mean(0)
    j = int(np.argmin(np.abs(lively - 0.5)))  # a feature that is on for some examples and off for others
    assert 0.05 < lively[j] < 0.95
    ctx = open_unit(MODEL, f"{MODEL}/{SITE}/sae_feature/imported:{j}", harvest_dir=h.path)
    np.testing.assert_allclose(ctx.values, want[:, j], rtol=1e-4, atol=1e-4)
    _play_every_level(ctx)
    # SAELens reads the folder we save back, and its encode agrees with ours
    assert r.path is not None
    back = sl.SAE.load_from_disk(r.path)
    with torch.no_grad():
        np.testing.assert_allclose(back.encode(torch.from_numpy(acts[:500])).numpy(), want[:500], rtol=1e-4, atol=1e-4)
    with pytest.raises(
        UserError, match=r"trained on hook 'blocks\.1\.hook_resid_post' \(site blocks\.1\.resid\.post\)"
    ):
        import_sae(MODEL, "blocks.1.mlp.post", folder, name="wrong", harvest=h)
    # the sae_lens object imports the same way, and its cfg's hook name is checked too
    np.testing.assert_allclose(
        import_sae(MODEL, SITE, sae, name="object", harvest=h).sae.encode(acts[:500]), want[:500], rtol=1e-4, atol=1e-4
    )
    with pytest.raises(UserError, match="trained on hook"):
        import_sae(MODEL, "blocks.1.mlp.post", sae, name="object2", harvest=h)
    del written["metadata"]  # no hook recorded: the width check still stops a wrong site
    (folder / "cfg.json").write_text(json.dumps(written))
    with pytest.raises(UserError, match=r"reads 64 numbers but blocks\.1\.mlp\.post"):
        import_sae(MODEL, "blocks.1.mlp.post", folder, name="wrong", harvest=h)


def test_directions_from_concepts_and_files(h: Harvest, tmp_path: Path) -> None:
    r = add_direction(MODEL, SITE, "caps", concepts=("capitalised", "true", "false"), harvest=h)
    assert r.meta["norm"] == pytest.approx(1.0) and r.meta["counts"][0] > 0
    ctx = open_unit(MODEL, f"{MODEL}/{SITE}/direction/caps", harvest_dir=h.path)
    caps = np.array([t.strip()[:1].isupper() for t in ctx.target_tokens()])
    assert ctx.values[caps].mean() > ctx.values[~caps].mean() + 0.5 * r.meta["raw_norm"]
    v = np.random.default_rng(0).normal(size=64)
    for suffix, write in [
        (".npy", lambda p: np.save(p, v)),
        (".txt", lambda p: p.write_text("\n".join(map(str, v)))),
    ]:
        path = tmp_path / f"v{suffix}"
        write(path)
        add_direction(MODEL, SITE, f"file{suffix[1:]}", file=path)
        ctx = open_unit(MODEL, f"{SITE}/direction/file{suffix[1:]}", harvest_dir=h.path)
        want = h.activations(SITE).reshape(-1, 64).astype(np.float64) @ v
        np.testing.assert_allclose(ctx.values, want, rtol=1e-5, atol=1e-5)
    _play_every_level(ctx)
    (tmp_path / "short.txt").write_text("1 2 3")
    with pytest.raises(UserError, match="the site has 64 units"):
        add_direction(MODEL, SITE, "short", file=tmp_path / "short.txt")
    with pytest.raises(UserError, match="no example has capitalised=maybe"):
        add_direction(MODEL, SITE, "bad", concepts=("capitalised", "maybe", "false"), harvest=h)
    with pytest.raises(UserError, match="either as --file F or"):
        add_direction(MODEL, SITE, "neither")


def test_user_labelers_csv_and_function(h: Harvest, tmp_path: Path) -> None:
    ctx_tokens = open_unit(MODEL, "blocks.1.mlp.post/3", harvest_dir=h.path).target_tokens()
    assert ctx_tokens is not None
    rows = ["example,label"] + [f"{e},{str(ctx_tokens[e]).strip()[:1].isupper()}" for e in range(0, 19_200, 3)]
    (tmp_path / "caps.csv").write_text("\n".join(rows))
    r = train_probe(MODEL, SITE, "mycaps", csv=tmp_path / "caps.csv", harvest=h)
    assert r.metrics["n"] == 6400 and r.metrics["accuracy"] > r.metrics["base_rate"] + 0.02
    (tmp_path / "labs.py").write_text(
        "def vowel(tokens, position):\n    return tokens[position].strip()[:1] in 'aeiou'\n"
    )
    r = train_probe(MODEL, SITE, "vowel", labeler=f"{tmp_path / 'labs.py'}:vowel", harvest=h, max_examples=4000)
    assert r.metrics["task"] == "binary" and r.metrics["auc"] > 0.7
    (tmp_path / "broken.py").write_text("def f(tokens, position):\n    return 1 / 0\n")
    with pytest.raises(UserError, match="ZeroDivisionError"):
        train_probe(MODEL, SITE, "broken", labeler=f"{tmp_path / 'broken.py'}:f", harvest=h)
    (tmp_path / "bad.csv").write_text("example,label\n5,true\nxx,false\n")
    with pytest.raises(UserError, match="row 2"):
        train_probe(MODEL, SITE, "bad", csv=tmp_path / "bad.csv", harvest=h)


def test_bad_probe_requests(h: Harvest) -> None:
    with pytest.raises(UserError, match="unknown concept 'sparkly'"):
        train_probe(MODEL, SITE, "sparkly", harvest=h)
    with pytest.raises(UserError, match="categorical: pick a value"):
        train_probe(MODEL, SITE, "prev_token", harvest=h, max_examples=500)
    with pytest.raises(UserError, match="no example has prev_token=zzzzqq"):
        train_probe(MODEL, SITE, "prev_token=zzzzqq", harvest=h, max_examples=500)
    with pytest.raises(UserError, match="unknown site"):
        train_probe(MODEL, "blocks.7.resid.post", "capitalised", harvest=h)
    with pytest.raises(UserError, match=r"'blocks\.0\.resid\.post' was not harvested"):
        train_probe(MODEL, "blocks.0.resid.post", "capitalised", harvest=h)
    with pytest.raises(UserError, match="no probe 'ghost'"):
        open_unit(MODEL, f"{SITE}/probe/ghost", harvest_dir=h.path)
    with pytest.raises(UserError, match="bad probe name"):
        train_probe(MODEL, SITE, "capitalised", name="a/b", harvest=h)
