"""Splicing on the planted model, whose units are known functions of the input: the true functions recover
everything, wrong ones nothing, ablation exactly nothing; a splice that does not really patch is caught."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

import mirrorneuron.buildout.splice as splice_mod
from mirrorneuron.buildout.baselines import (
    baseline_candidates,
    compare,
    constant_predictor,
    ridge_predictor,
    sae_predictor,
    unit_mean,
)
from mirrorneuron.buildout.splice import Predictor, Splicer, SpliceUnit, Task, recovery_curve
from mirrorneuron.harvest.cache import Harvest
from mirrorneuron.harvest.run import HarvestSpec, harvest
from mirrorneuron.models.adapter import TorchAdapter
from mirrorneuron.models.planted import PLANTED, VOCAB, planted_adapter, planted_text
from mirrorneuron.types import UserError
from mirrorneuron.units.sae import SparseAutoencoder

DET = "layers.0.post"
SUM = "layers.1.post"
DETECTORS = [SpliceUnit(DET, i) for i in range(len(PLANTED))]


def detector(i: int) -> Predictor:
    """The planted detector i as a function of the tokens: PLANTED[i] value on its word, 0 elsewhere."""
    word, value = PLANTED[i]
    return lambda x: value * (x == VOCAB.index(word)).astype(np.float32)


def windows(text: str, n_ctx: int = 16) -> np.ndarray:
    ids = np.asarray(planted_adapter().tokenizer.encode(text).ids, dtype=np.int64)  # type: ignore[union-attr]
    return ids[: len(ids) // n_ctx * n_ctx].reshape(-1, n_ctx)


@pytest.fixture(scope="module")
def adapter() -> TorchAdapter:
    return planted_adapter()


@pytest.fixture(scope="module")
def splicer(adapter: TorchAdapter) -> Splicer:
    return Splicer(adapter, Task("output", windows(planted_text(3000, seed=7)), slice="planted, seed 7"))


def true_detectors() -> dict[SpliceUnit, Predictor]:
    return {u: detector(u.index) for u in DETECTORS}


def wrong_detectors() -> dict[SpliceUnit, Predictor]:
    return {u: detector((u.index + 1) % len(PLANTED)) for u in DETECTORS}  # each fires on another word


def check_splice(s: Splicer) -> None:
    """The done-when properties: true functions ≈ 1, wrong ones ≈ 0 or below, zero ablation exactly 0."""
    truth = s.splice(true_detectors()).loss_recovered
    assert truth is not None and truth > 0.98
    wrong = s.splice(wrong_detectors()).loss_recovered
    assert wrong is not None and wrong < 0.1
    zero = s.splice({u: constant_predictor(s.adapter, u, 0.0) for u in DETECTORS}).loss_recovered
    assert zero == 0.0


def test_true_functions_recover_everything_wrong_ones_nothing(splicer: Splicer) -> None:
    check_splice(splicer)
    r = splicer.splice(true_detectors())
    assert r.clean["loss"] == 0.0 and r.ablated["loss"] > 0.1 and r.spliced["loss"] < 1e-10
    assert r.ablation == "zero" and r.accuracy_kept is None


@pytest.mark.parametrize(
    "fault",
    [
        lambda values: {},  # patches nothing
        lambda values: _shifted(values),  # patches the neighbouring index
    ],
    ids=["no-patch", "wrong-index"],
)
def test_a_splice_that_does_not_really_patch_fails_the_check(
    adapter: TorchAdapter, fault: Callable[..., dict[str, splice_mod.Patch]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(splice_mod, "_patches", fault)
    faulty = Splicer(adapter, Task("output", windows(planted_text(1000, seed=8))))
    with pytest.raises(AssertionError):
        check_splice(faulty)


_real_patches = splice_mod._patches


def _shifted(values: dict[SpliceUnit, object]) -> dict[str, splice_mod.Patch]:
    width = {DET: len(PLANTED), SUM: 2}
    return _real_patches({SpliceUnit(u.site, (u.index + 1) % width[u.site]): v for u, v in values.items()})  # type: ignore[misc]


def test_mean_under_mean_ablation_is_exactly_zero(splicer: Splicer) -> None:
    means = {u: float(np.mean(detector(u.index)(splicer.task.inputs))) for u in DETECTORS}
    preds = {u: constant_predictor(splicer.adapter, u, means[u]) for u in DETECTORS}
    r = splicer.splice(preds, "mean", means)
    assert r.loss_recovered == 0.0 and r.ablation == "mean"
    assert splicer.splice(true_detectors(), "mean", means).loss_recovered == pytest.approx(1.0)


def test_units_at_several_sites_at_once(splicer: Splicer) -> None:
    """Detector 0 replaced upstream AND the sum unit 0 (d0 + d1) downstream, by their true functions."""
    both = {DETECTORS[0]: detector(0), SpliceUnit(SUM, 0): lambda x: detector(0)(x) + detector(1)(x)}
    assert splicer.splice(both).loss_recovered == pytest.approx(1.0)
    # the downstream unit wrong (d0 only): the splice must see it, though the upstream one is right
    wrong = {DETECTORS[0]: detector(0), SpliceUnit(SUM, 0): detector(0)}
    got = splicer.splice(wrong).loss_recovered
    assert got is not None and got < 0.9


def test_one_unit_replaced_leaves_the_others_alone(splicer: Splicer) -> None:
    r = splicer.splice({DETECTORS[1]: detector(1)})
    assert r.loss_recovered == pytest.approx(1.0) and r.units == (DETECTORS[1],)


def test_nothing_to_recover_is_none_with_a_reason(adapter: TorchAdapter) -> None:
    no_cat = windows(" ".join(w for w in planted_text(2000, seed=9).split() if w != "cat"))
    s = Splicer(adapter, Task("output", no_cat))
    r = s.splice({DETECTORS[0]: detector(1)})  # cat never occurs: ablating its detector changes nothing
    assert r.loss_recovered is None and "does not change the loss" in r.to_json()["reasons"]["loss"]  # type: ignore[index]


def test_recovery_curve_is_plain_rows_one_per_prefix(splicer: Splicer) -> None:
    preds = true_detectors() | {DETECTORS[2]: detector(0)}  # the third one wrong
    rows = recovery_curve(splicer, DETECTORS, preds)
    assert [r["n_units"] for r in rows] == [1, 2, 3]
    assert [r["unit"] for r in rows] == [str(u) for u in DETECTORS]
    assert rows[0]["loss_recovered"] == pytest.approx(1.0) and rows[1]["loss_recovered"] == pytest.approx(1.0)
    assert rows[2]["loss_recovered"] < 0.9  # type: ignore[operator]


def test_bad_predictions_are_user_errors(splicer: Splicer) -> None:
    with pytest.raises(UserError, match="shape"):
        splicer.splice({DETECTORS[0]: lambda x: np.zeros(3)})
    with pytest.raises(UserError, match="non-finite"):
        splicer.splice({DETECTORS[0]: lambda x: np.full(x.shape, np.nan)})
    with pytest.raises(UserError, match="out of range"):
        splicer.splice({SpliceUnit(DET, 9): detector(0)})
    with pytest.raises(UserError, match="unknown site"):
        splicer.splice({SpliceUnit("nope", 0): detector(0)})


@pytest.fixture(scope="module")
def planted_harvest(adapter: TorchAdapter, tmp_path_factory: pytest.TempPathFactory) -> Harvest:
    root = tmp_path_factory.mktemp("planted-splice")
    (root / "corpus.txt").write_text(planted_text(6000))
    spec = HarvestSpec(corpus=str(root / "corpus.txt"), sites=(DET, SUM), max_windows=None)
    return harvest(adapter, spec, root / "h")


def test_baselines_in_one_table(splicer: Splicer, planted_harvest: Harvest) -> None:
    """The ridge bot, fitted on the references alone, learns a token detector; the mean and zero recover 0."""
    a = splicer.adapter
    means = {u: unit_mean(planted_harvest, u) for u in DETECTORS}
    candidates = {
        "truth": true_detectors(),
        "ridge": {u: ridge_predictor(a, planted_harvest, u) for u in DETECTORS},
        "mean": {u: constant_predictor(a, u, means[u]) for u in DETECTORS},
        "zero": {u: constant_predictor(a, u, 0.0) for u in DETECTORS},
    }
    rows = {r["candidate"]: r for r in compare(splicer, candidates)}
    assert list(rows) == ["truth", "ridge", "mean", "zero"]
    assert rows["truth"]["loss_recovered"] == pytest.approx(1.0) and rows["zero"]["loss_recovered"] == 0.0
    assert rows["ridge"]["loss_recovered"] > 0.9  # type: ignore[operator]
    assert rows["mean"]["loss_recovered"] < rows["ridge"]["loss_recovered"]  # type: ignore[operator]
    mean_rows = compare(splicer, {"mean": candidates["mean"]}, "mean", means)
    assert mean_rows[0]["loss_recovered"] == 0.0


def test_sae_baseline_reconstructs_the_unit(splicer: Splicer, planted_harvest: Harvest) -> None:
    """An SAE saved at the site is found and used: an identity SAE recovers all, a half-scale decoder less."""
    a = splicer.adapter
    names = ("zero", "mean", "ridge", "sae")
    _, skipped = baseline_candidates(a, planted_harvest, DETECTORS, names)
    assert "sae" in skipped  # none saved yet
    d = len(PLANTED)
    SparseAutoencoder("ident", "planted", DET, np.eye(d), np.zeros(d), np.eye(d), np.zeros(d)).save()
    cands, skipped = baseline_candidates(a, planted_harvest, DETECTORS, names)
    assert not skipped and list(cands) == list(names)
    assert splicer.splice(cands["sae"]).loss_recovered == pytest.approx(1.0)
    half = SparseAutoencoder("half", "planted", DET, np.eye(d), np.zeros(d), 0.5 * np.eye(d), np.zeros(d))
    got = splicer.splice({u: sae_predictor(a, half, u) for u in DETECTORS}).loss_recovered
    assert got is not None and 0.1 < got < 0.95
