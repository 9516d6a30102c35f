"""Finders on planted activation matrices whose answers are known, the held-out guard of bot imitability, and
the registry's handling of users' finders."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import spearmanr

from mirrorneuron.finders import (
    BotImitability,
    Finder,
    HeldOutViolation,
    SiteData,
    check_held_out,
    get,
    load_finder,
    register,
)
from mirrorneuron.finders.activation import unigram_predictions
from mirrorneuron.game import ArrayContext, RoundSet, TextExample, UnitContext, make_rounds, training_mask
from mirrorneuron.players import data as bot_data
from mirrorneuron.types import UserError
from mirrorneuron.units.poly import density as poly_density
from mirrorneuron.units.poly import kurtosis as poly_kurtosis

WINDOWS, POSITIONS, VOCAB = 100, 16, 40
E = WINDOWS * POSITIONS


def planted(extra: dict[str, np.ndarray] | None = None, seed: int = 0) -> SiteData:
    """Units with known answers: 0 token lookup, 1 dense, 2 heavy-tailed, 3 Gaussian noise, 4 sparse, + ``extra``."""
    rng = np.random.default_rng(seed)
    tokens = rng.integers(0, VOCAB, E)
    table = rng.normal(0, 1, VOCAB)
    units = {
        "lookup": table[tokens],
        "dense": 1.0 + 0.01 * rng.random(E),
        "heavy": rng.standard_t(2.5, E),
        "noise": rng.normal(0, 1, E),
        "sparse": np.where(rng.random(E) < 0.01, 3.0, 0.0),
        **(extra or {}),
    }
    acts = np.stack(list(units.values()), axis=1).astype(np.float32)
    vocab = np.array([f" t{i}" for i in range(VOCAB)], dtype=object)
    data = SiteData(
        "planted", "site", acts, np.repeat(np.arange(WINDOWS), POSITIONS), tokens=tokens, vocab=vocab,
        positions=POSITIONS,
    )  # fmt: skip
    data.open_unit = lambda j, full: ArrayContext(
        data.unit_ids[j], acts[:, j], [example(data, e) for e in range(E)], groups=data.groups
    )
    return data


def example(data: SiteData, e: int) -> TextExample:
    assert data.tokens is not None and data.vocab is not None
    start = e - e % POSITIONS
    return TextExample(tuple(data.vocab[data.tokens[start : e + 1]]), e - start)


def score(name: str, data: SiteData) -> np.ndarray:
    return get(name)(data)


def test_token_lookup_unit_has_unigram_r2_one_and_noise_zero() -> None:
    r2 = score("unigram_r2", planted())
    assert r2[0] == pytest.approx(1.0, abs=1e-5)
    assert abs(r2[3]) < 0.1 and r2[1] < 0.1


def test_unigram_r2_is_measured_on_the_held_out_half() -> None:
    """A unit that is a token lookup on the training windows only and noise on the held-out ones scores
    near 0 (scored on its training half it would be 1)."""
    base = planted()
    assert base.tokens is not None
    train = training_mask(base.groups)
    fake = np.where(train, base.acts[:, 0], np.random.default_rng(1).normal(0, 1, E)).astype(np.float32)
    data = planted({"train_only": fake})
    assert score("unigram_r2", data)[5] < 0.1  # (negative: the training table predicts noise)
    pred = unigram_predictions(data)
    assert pred.shape == (data.n_units, int((~train).sum()))


def test_unigram_prediction_falls_back_to_the_mean_for_unseen_tokens() -> None:
    data = planted()
    assert data.tokens is not None
    train = data.training
    data.tokens[~train] = VOCAB + 5  # a token the training half never has
    pred = unigram_predictions(data)
    np.testing.assert_allclose(pred[:, 0], data.acts[train].mean(axis=0), rtol=1e-5)


def test_density_kurtosis_and_max_z_find_the_planted_units() -> None:
    data = planted()
    density, kurt, max_z = score("density", data), score("kurtosis", data), score("max_z", data)
    assert density[1] == pytest.approx(1.0) and density[4] < 0.02
    assert kurt[2] > 3 and kurt[4] > 50 and abs(kurt[3]) < 0.5 and kurt[2] == max(kurt[:4])
    assert max_z[4] > 5 and max_z[4] > max_z[3]
    np.testing.assert_allclose(kurt, [poly_kurtosis(data.acts[:, j]) for j in range(data.n_units)])


def test_a_dead_unit_scores_nan_where_nothing_can_be_said() -> None:
    data = planted({"dead": np.zeros(E)})
    for name in ("max_z", "unigram_r2"):
        assert np.isnan(score(name, data)[5]), name
    assert score("density", data)[5] == 0.0


def test_random_baseline_is_seeded_and_uncorrelated_with_any_measure() -> None:
    rng = np.random.default_rng(3)
    acts = rng.standard_t(3, (400, 500)).astype(np.float32) * rng.random(500)
    data = SiteData("m", "s", acts, np.repeat(np.arange(40), 10))
    r = score("random", data)
    assert np.array_equal(r, score("random", SiteData("m", "s", acts, data.groups)))
    assert not np.array_equal(r, score("random", SiteData("m", "other", acts, data.groups)))
    for name in ("max_z", "kurtosis", "density"):
        rho = spearmanr(r, score(name, data)).statistic
        assert abs(rho) < 0.15, (name, rho)


def test_top_measures_count_tokens_and_contexts_of_the_top_examples() -> None:
    rng = np.random.default_rng(4)
    base = planted()
    assert base.tokens is not None
    one_token = np.where(base.tokens == 7, 5.0 + rng.random(E), 0.0)
    data = planted({"one_token": one_token})
    assert score("top_distinct", data)[5] == 1 and score("top_effective", data)[5] == pytest.approx(1.0)
    assert score("top_distinct", data)[3] > 5  # noise: its top examples have many tokens
    assert score("top_context_clusters", data)[3] >= score("top_context_clusters", data)[5]


def test_weight_measures_on_concentrated_and_spread_weights() -> None:
    acts = np.random.default_rng(5).random((20, 3)).astype(np.float32)
    weights = np.zeros((3, 64))
    weights[0, 3] = 2.0  # one input
    weights[1] = 1.0  # all inputs equal
    weights[2, :5] = [3, -3, 3, -3, 3]
    data = SiteData("m", "s", acts, np.arange(20), weights=weights)
    pr, top5 = score("weight_participation", data), score("weight_top5_share", data)
    np.testing.assert_allclose(pr, [1 / 64, 1.0, 5 / 64])
    np.testing.assert_allclose(top5, [1.0, 5 / 64, 1.0])
    assert np.isnan(score("weight_participation", SiteData("m", "s", acts, np.arange(20)))).all()


def test_sae_alignment_is_one_for_a_feature_along_the_neuron_and_nan_without_sae() -> None:
    acts = np.random.default_rng(6).random((20, 4)).astype(np.float32)
    dec = np.array([[0.0, 2.0, 0.0, 0.0], [1.0, 0.0, 1.0, 0.0]])
    data = SiteData("m", "s", acts, np.arange(20), sae_decoders=(dec,))
    np.testing.assert_allclose(score("sae_alignment", data), [np.sqrt(0.5), 1.0, np.sqrt(0.5), 0.0])
    assert np.isnan(score("sae_alignment", SiteData("m", "s", acts, np.arange(20)))).all()


def test_unigram_bot_imitates_a_token_lookup_unit_on_held_out_rounds() -> None:
    data = planted()
    sub = SiteData(data.model, data.site, data.acts[:, [0, 3]], data.groups, tokens=data.tokens, vocab=data.vocab)
    sub.open_unit = lambda j, full: data.unit([0, 3][j])
    imit = BotImitability("unigram", 0, rounds=30)(sub)
    assert imit[0] > 0.95 and abs(imit[1]) < 0.6


class TrainsOnHeldOut(BotImitability):
    """Planted fault: fits the bot on the held-out half (where the rounds are asked)."""

    def fitted_mask(self, ctx: UnitContext, rs: RoundSet) -> np.ndarray:
        return ~rs.training


def test_the_held_out_guard_catches_a_bot_fitted_on_held_out_examples() -> None:
    data = planted()
    with pytest.raises(HeldOutViolation, match="fitted on held-out"):
        TrainsOnHeldOut("unigram", 0, rounds=10)(data)


def test_the_held_out_guard_catches_rounds_that_ask_training_examples() -> None:
    """Planted fault: the round set's split is flipped, so its rounds ask what is now the training half."""
    data = planted()
    rs = make_rounds(data.unit(0), 1, 10)
    check_held_out(rs.training, rs)  # the real split passes
    with pytest.raises(HeldOutViolation, match="ask training examples"):
        check_held_out(np.zeros_like(rs.training), dataclasses.replace(rs, training=~rs.training))


def test_bot_imitability_fits_only_training_examples_and_asks_only_held_out(monkeypatch: pytest.MonkeyPatch) -> None:
    """Records the examples each bot is fitted on (through BotData) and each round asks."""
    data = planted()
    fitted: list[np.ndarray] = []
    real = bot_data.BotData.from_context.__func__  # type: ignore[attr-defined]

    def spy(cls: type, ctx: UnitContext, training: np.ndarray | None = None) -> bot_data.BotData:
        fitted.append(np.asarray(training, dtype=bool).copy())
        return real(cls, ctx, training)

    monkeypatch.setattr(bot_data.BotData, "from_context", classmethod(spy))
    out = BotImitability("knn", 1, rounds=10)(data)
    assert np.isfinite(out).all() and len(fitted) == data.n_units
    train = training_mask(data.groups)
    assert all(np.array_equal(m, train) for m in fitted)


def test_registry_rejects_bad_user_finders_with_one_clear_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "user_finders.py").write_text(
        "import numpy as np\n"
        "from mirrorneuron.finders import Finder\n"
        "class Good(Finder):\n"
        "    name = 'user_good'\n"
        "    def score(self, data):\n"
        "        return np.ones(data.n_units)\n"
        "class BadName(Good):\n"
        "    name = 'Bad Name!'\n"
        "class Needs(Good):\n"
        "    name = 'user_needs'\n"
        "    def __init__(self, x):\n"
        "        self.x = x\n"
        "NOT_A_FINDER = 3\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        cases = {
            "user_finders:Missing": "has no 'Missing'",
            "no_such_module_xyz:Thing": "cannot import",
            "user_finders:NOT_A_FINDER": "is not a finder",
            "user_finders:BadName": "must be 1–64",
            "user_finders:Needs": "without arguments",
            "nonsense": "unknown finder",
        }
        for path, message in cases.items():
            with pytest.raises(UserError, match=message) as e:
                get(path)
            assert "\n" not in str(e.value)
        good = load_finder("user_finders:Good")
        assert get("user_good") is good and (good(planted()) == 1).all()

        class Clash(Finder):
            name = "density"

            def score(self, data: SiteData) -> np.ndarray:
                return np.zeros(data.n_units)

        with pytest.raises(UserError, match="already registered"):
            register(Clash())
    finally:
        sys.modules.pop("user_finders", None)


def test_a_finder_returning_the_wrong_number_of_scores_is_refused() -> None:
    class Short(Finder):
        name = "short"

        def score(self, data: SiteData) -> np.ndarray:
            return np.zeros(data.n_units - 1)

    with pytest.raises(ValueError, match="returned 4 scores for 5 units"):
        Short()(planted())


def test_poly_density_is_a_different_measure_from_activation_density() -> None:
    """``density`` (fraction active) and the polysemanticity ``density`` of units.poly differ on a dense unit."""
    data = planted()
    assert score("density", data)[1] == pytest.approx(1.0)
    assert poly_density(data.acts[:, 1]) < 0.9
    np.testing.assert_allclose(score("poly_density", data), [poly_density(data.acts[:, j]) for j in range(5)])


@pytest.mark.parametrize(
    "imported", ["mirrorneuron.store.scores", "mirrorneuron.web.app", "mirrorneuron.gameplay.finding", "mirrorneuron.cli"]
)
def test_a_planted_import_breaks_the_finders_contract(imported: str) -> None:
    from test_package_graph import _kept, graph

    g = graph()
    assert _kept("finders (automated unit scorers)", g)
    g.add_import(importer="mirrorneuron.finders.activation", imported=imported)
    assert not _kept("finders (automated unit scorers)", g)
