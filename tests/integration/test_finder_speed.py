"""The finder speed-ups change no result: the unigram bot's vectorised table equals the old loop's, bot
imitability with shared draws / bot data / forward passes equals each unit played alone through the game,
and the per-site forward-pass cache gives every neuron the hints it would compute itself."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from mirrorneuron.finders import BotImitability, SiteData, site_data
from mirrorneuron.finders.imitability import imitability_finders
from mirrorneuron.game import (
    Hints,
    Level,
    Round,
    RoundSet,
    TextExample,
    UnitContext,
    UnitStats,
    make_rounds,
    run_session,
    truth_from,
)
from mirrorneuron.game.scoring import CONSTANT_ACTUAL
from mirrorneuron.harvest.cache import Harvest
from mirrorneuron.harvest.run import HarvestSpec, harvest
from mirrorneuron.models.adapter import TorchAdapter
from mirrorneuron.models.loader import zoo_adapter
from mirrorneuron.players import BotData, UnigramBot, make_bot
from mirrorneuron.players import simple as simple_bots
from mirrorneuron.units.context import NeuronContext, WindowCache

SITES = ("blocks.0.mlp.post", "blocks.1.mlp.post")


@pytest.fixture(scope="module")
def adapter() -> TorchAdapter:
    return zoo_adapter("tiny-gelu")


@pytest.fixture(scope="module")
def h(tmp_path_factory: pytest.TempPathFactory, adapter: TorchAdapter) -> Harvest:
    return harvest(adapter, HarvestSpec(max_windows=40), tmp_path_factory.mktemp("speed") / "h")


class LoopUnigram(UnigramBot):
    """The table as it was built before: one ``_add`` per training example."""

    def __init__(self, data: BotData) -> None:
        self.data, self.sums, self.counts = data, {}, {}
        if data.target_tokens is not None:
            for token, value in zip(data.target_tokens.tolist(), data.values.tolist(), strict=True):
                self._add(token, value)


def _text_round(token: str) -> Round:
    stats = UnitStats.from_values(np.array([0.0, 1.0]))
    hints = Hints(Level.BLIND, "u", stats)
    return Round("r", "u", 0, 0, TextExample(("a", token), 1), Level.BLIND, hints, "random", 1.0, 1.0)


def _tables_agree(data: BotData, tokens: list[str]) -> bool:
    new, old = UnigramBot(data), LoopUnigram(data)
    guesses = [(new.guess(_text_round(t)), old.guess(_text_round(t))) for t in tokens]
    return new.sums == old.sums and new.counts == old.counts and all(a == b for a, b in guesses)


def test_the_vectorised_unigram_table_equals_the_loop_bit_for_bit(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(0)
    vocab = np.array([f"t{i}" for i in range(300)] + [" ", "é", ""], dtype=object)
    for n in (0, 1, 17, 20_000):
        tokens = vocab[rng.zipf(1.3, n) % vocab.size]
        data = BotData(rng.standard_t(2, n) * 10.0 ** rng.integers(-3, 4, n), tokens)
        assert _tables_agree(data, [*vocab[:50].tolist(), "unseen"]), n
    assert _tables_agree(BotData(np.ones(3)), ["t1"])  # no tokens: the unit mean
    real = np.bincount

    def off_by_one(x: Any, weights: Any = None, minlength: int = 0) -> np.ndarray:
        out = real(x, weights=weights, minlength=minlength)
        out[0] -= 0 if weights is not None else 1
        return out

    monkeypatch.setattr(simple_bots.np, "bincount", off_by_one)  # planted: a count off by one
    assert not _tables_agree(BotData(np.arange(5.0), np.array(list("aabba"), dtype=object)), ["a", "b"])


def _alone(h: Harvest, adapter: TorchAdapter, site: str, j: int, f: BotImitability) -> float:
    """Unit ``j`` played alone through the game: its own context (no shared passes), draw and bot data."""
    ctx = NeuronContext(h, adapter, site, j)
    if float(np.ptp(ctx.values)) == 0:
        return np.nan
    rs = make_rounds(ctx, f.level, f.rounds)
    bot = LoopUnigram(BotData.from_context(ctx, rs.training)) if f.bot == "unigram" else None
    result = run_session(bot or make_bot(f.bot, BotData.from_context(ctx, rs.training)), rs.rounds, truth_from(ctx))
    return np.nan if CONSTANT_ACTUAL in result.summary.flags else result.summary.correlation


@pytest.mark.parametrize("site", SITES)
def test_imitability_scores_equal_each_unit_played_alone(h: Harvest, adapter: TorchAdapter, site: str) -> None:
    data = site_data(h, adapter, site)
    units = [0, 5, 11]
    small = SiteData(data.model, data.site, data.acts[:, units], data.groups, tokens=data.tokens, vocab=data.vocab)
    opener = data.open_unit
    assert opener is not None
    small.open_unit = lambda j, full: opener(units[j], full)
    for f in imitability_finders(rounds=12):
        shared = f(small)
        alone = [_alone(h, adapter, site, j, f) for j in units]
        np.testing.assert_allclose(shared, alone, rtol=1e-12, atol=1e-12, err_msg=f.name)


class FitsOnHalfTraining(BotImitability):
    """A variant fitting on half the training examples: the shared bot data must not be used for it."""

    def fitted_mask(self, ctx: UnitContext, rs: RoundSet) -> np.ndarray:
        half = rs.training.copy()
        half[np.flatnonzero(half)[::2]] = False
        return half


def test_shared_bot_data_is_used_only_for_its_own_mask(
    h: Harvest, adapter: TorchAdapter, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = site_data(h, adapter, SITES[0])
    small = SiteData(data.model, data.site, data.acts[:, :2], data.groups, tokens=data.tokens, vocab=data.vocab)
    small.open_unit = data.open_unit
    sizes: list[int] = []
    real = make_bot
    monkeypatch.setattr(
        "mirrorneuron.finders.imitability.make_bot", lambda name, d: (sizes.append(d.values.size), real(name, d))[1]
    )
    BotImitability("ridge", 1, rounds=8)(small)
    FitsOnHalfTraining("ridge", 1, rounds=8)(small)  # after the default one: its bot data is in the memo
    n_train = int(data.training.sum())
    assert sizes == [n_train, n_train, (n_train + 1) // 2, (n_train + 1) // 2]


def _hints_match(h: Harvest, adapter: TorchAdapter, cache: WindowCache, windows: list[int]) -> bool:
    """Every neuron sharing ``cache`` (units of both sites) sees the hints it computes with its own passes."""
    ok = True
    for site in SITES:
        for j in (3, 200):
            shared, own = NeuronContext(h, adapter, site, j, cache), NeuronContext(h, adapter, site, j)
            for w in windows:
                i = w * h.positions + 7
                ok &= list(shared.neighbours(i)) == list(own.neighbours(i))
                ok &= shared.contributions(i) == own.contributions(i)
    return bool(ok)


class WindowOnly(WindowCache):
    """Planted fault: a cache keyed by the window alone, so the sites' different passes collide."""

    def get(self, key: Any, run: Any) -> dict[str, np.ndarray]:
        return super().get(((), key[1]), run)


def test_one_forward_pass_per_window_serves_every_neuron_of_a_site(h: Harvest, adapter: TorchAdapter) -> None:
    cache = WindowCache()
    assert _hints_match(h, adapter, cache, [1, 4, 9])
    assert cache.runs == 2 * 3  # one pass per (site, window), not one per neuron
    assert not _hints_match(h, adapter, WindowOnly(), [1, 4, 9])
    small = WindowCache(maxsize=2)
    assert _hints_match(h, adapter, small, [1, 4, 9]) and len(small._passes) == 2
