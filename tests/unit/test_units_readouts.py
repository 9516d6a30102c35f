"""Read-outs, SAEs (our format and SAELens folders/objects) and polysemanticity measures, without a model."""

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from mirrorneuron.types import UnitRef, UserError
from mirrorneuron.units.poly import context_clusters, density, diversity, kurtosis, polysemanticity
from mirrorneuron.units.readout import Readout, apply_linear
from mirrorneuron.units.sae import SparseAutoencoder, from_saelens, load_sae_folder

RNG = np.random.default_rng(0)
D, K = 6, 10


def test_readout_values_match_the_formula() -> None:
    acts = RNG.normal(size=(4, 5, D)).astype(np.float16)
    w, shift = RNG.normal(size=D), RNG.normal(size=D)
    r = Readout(UnitRef("m", "s", "probe", "p"), w, 0.5, shift)
    want = (acts.astype(np.float64) - shift) @ w + 0.5
    np.testing.assert_allclose(r(acts), want, rtol=1e-12)
    relu = Readout(UnitRef("m", "s", "direction", "d"), w, -0.2, act="relu")
    np.testing.assert_allclose(relu(acts), np.maximum(acts.astype(np.float64) @ w - 0.2, 0), rtol=1e-12)
    with pytest.raises(UserError, match="expects 6 inputs"):
        apply_linear(acts[..., :3], w[:, None], np.zeros(1), None, "identity")
    with pytest.raises(UserError, match="finite"):
        Readout(UnitRef("m", "s", "direction", "d"), np.full(D, np.nan))


def _sae_params(dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return {
        "W_enc": torch.randn(D, K, generator=g).to(dtype),
        "b_enc": torch.randn(K, generator=g).to(dtype),
        "W_dec": torch.randn(K, D, generator=g).to(dtype),
        "b_dec": torch.randn(D, generator=g).to(dtype),
    }


def _write_saelens(folder: Path, cfg: dict, params: dict[str, torch.Tensor]) -> Path:
    folder.mkdir(parents=True)
    (folder / "cfg.json").write_text(json.dumps(cfg))
    save_file(params, str(folder / "sae_weights.safetensors"))
    return folder


V6_CFG = {
    "architecture": "standard", "d_in": D, "d_sae": K, "dtype": "float32", "device": "cpu",
    "apply_b_dec_to_input": True, "normalize_activations": "none", "reshape_activations": "none",
    "meta": {"model_name": "tiny-stories-1M", "hook_name": "blocks.0.hook_resid_post"},
}  # fmt: skip


@pytest.mark.parametrize("apply_b", [True, False])
def test_saelens_folder_loader(tmp_path: Path, apply_b: bool) -> None:
    params = _sae_params(torch.bfloat16)
    folder = _write_saelens(tmp_path / "my-sae", V6_CFG | {"apply_b_dec_to_input": apply_b}, params)
    sae = load_sae_folder(folder, "m", "s")
    assert sae.name == "my-sae" and (sae.d_in, sae.d_sae) == (D, K)
    p = {k: v.float().double().numpy() for k, v in params.items()}
    x = RNG.normal(size=(7, D))
    want = np.maximum((x - p["b_dec"] * apply_b) @ p["W_enc"] + p["b_enc"], 0)
    np.testing.assert_allclose(sae.encode(x), want, rtol=1e-10, atol=1e-12)
    feature = sae.feature(3)
    assert feature.ref.id == "m/s/sae_feature/my-sae:3" and feature.act == "relu"
    np.testing.assert_allclose(feature(x), want[:, 3], rtol=1e-10, atol=1e-12)


def test_old_saelens_config_and_scaling_factor(tmp_path: Path) -> None:
    cfg = {"d_in": D, "d_sae": K, "activation_fn_str": "relu", "hook_name": "blocks.0.hook_resid_pre"}
    params = _sae_params() | {"scaling_factor": torch.full((K,), 2.0)}
    sae = load_sae_folder(_write_saelens(tmp_path / "old", cfg, params), "m", "s", name="old")
    np.testing.assert_allclose(sae.W_dec, 2.0 * params["W_dec"].double().numpy(), rtol=1e-6)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"architecture": "jumprelu"}, "only standard ReLU SAEs"),
        ({"architecture": "topk"}, "only standard ReLU SAEs"),
        ({"normalize_activations": "expected_average_only_in"}, "fold the scaling"),
    ],
)
def test_saelens_kinds_that_are_not_units(tmp_path: Path, change: dict, message: str) -> None:
    folder = _write_saelens(tmp_path / "x", V6_CFG | change, _sae_params())
    with pytest.raises(UserError, match=message):
        load_sae_folder(folder, "m", "s")


def test_broken_sae_folders(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"cfg\.json is missing"):
        load_sae_folder(tmp_path, "m", "s")
    params = _sae_params()
    del params["b_dec"]
    with pytest.raises(UserError, match="lacks b_dec"):
        load_sae_folder(_write_saelens(tmp_path / "partial", V6_CFG, params), "m", "s")
    wrong = _sae_params() | {"b_enc": torch.zeros(K + 1)}
    with pytest.raises(UserError, match="inconsistent shapes"):
        load_sae_folder(_write_saelens(tmp_path / "shapes", V6_CFG, wrong), "m", "s")


def test_saelens_object_and_round_trip(tmp_path: Path) -> None:
    params = _sae_params()
    cfg = SimpleNamespace(apply_b_dec_to_input=True, normalize_activations="none", architecture=lambda: "standard")
    obj = SimpleNamespace(cfg=cfg, **{k: torch.nn.Parameter(v) for k, v in params.items()})
    sae = from_saelens(obj, "m", "s", "obj")
    folder = sae.save(tmp_path / "saved")
    again = load_sae_folder(folder, "m", "s")
    x = RNG.normal(size=(5, D))
    np.testing.assert_allclose(again.encode(x), sae.encode(x), rtol=1e-5, atol=1e-6)
    assert json.loads((folder / "cfg.json").read_text())["architecture"] == "standard"
    with pytest.raises(UserError, match="only standard ReLU"):
        from_saelens(SimpleNamespace(cfg=SimpleNamespace(architecture="gated"), **params), "m", "s", "g")
    with pytest.raises(UserError, match="lacks W_enc"):
        from_saelens(object(), "m", "s", "nothing")


def test_sae_quality_figures_on_an_exact_sae() -> None:
    eye = np.eye(D)
    sae = SparseAutoencoder(
        "pm", "m", "s", np.hstack([eye, -eye]), np.zeros(2 * D), np.vstack([eye, -eye]), np.zeros(D)
    )
    x = RNG.normal(size=(200, D))
    m = sae.evaluate(x)
    assert m["fve"] == pytest.approx(1.0) and m["mse"] == pytest.approx(0.0, abs=1e-20)
    assert m["l0"] == pytest.approx(D) and m["dead_fraction"] == 0.0
    assert sae.similar(0, 2)[0][0] != 0


def test_polysemanticity_measures() -> None:
    sparse = np.zeros(1000)
    sparse[:10] = np.linspace(1, 10, 10)
    assert density(sparse) == pytest.approx(0.009)  # > 1.0: nine of the ten firing examples
    assert density(np.full(10, 3.0)) == 0.0
    assert kurtosis(RNG.normal(size=200_000)) == pytest.approx(0.0, abs=0.05)
    assert kurtosis(sparse) > 50 and kurtosis(np.ones(5)) == 0.0
    assert diversity(["a", "a", "b", "c"])[0] == 3 and diversity(["a"] * 4) == (1, 1.0)
    sets = [{"mr", "darcy"}, {"mr", "darcy", "said"}, {"the", "sea"}, {"sea", "the", "ship"}, {"x"}]
    assert context_clusters(sets) == 3
    out = polysemanticity(sparse, ["a"] * 20, sets)
    assert set(out) == {"density", "kurtosis", "top_k", "top_distinct", "top_effective", "top_context_clusters"}
