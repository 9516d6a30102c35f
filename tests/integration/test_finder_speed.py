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
from mirrorneuron.players import BotData, UnigramBot, make_bot, ridge
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


def _old_fit(rows: list[dict[str, float]], targets: list[float], alpha: float) -> ridge.RidgeFit:
    """The ridge fit as it was: the design matrix rebuilt from the named rows."""
    columns: dict[str, int] = {}
    for row in rows:
        for name in row:
            columns.setdefault(name, len(columns))
    x = np.zeros((len(rows), len(columns)))
    for i, row in enumerate(rows):
        for name, value in row.items():
            x[i, columns[name]] = value
    rms = np.sqrt(np.mean(x * x, axis=0))
    keep = np.flatnonzero(rms > 0)
    kept = {name: int(np.searchsorted(keep, col)) for name, col in columns.items() if rms[col] > 0}
    return ridge.RidgeFit(kept, rms[keep], ridge.ridge_solve(x[:, keep] / rms[keep], np.asarray(targets), alpha))


def _same_fits(memory: Any, rng: np.random.Generator, max_history: int) -> bool:
    names = [f"f{i}" for i in range(30)]
    ok = True
    for _ in range(60):
        row = {str(n): float(rng.choice([0.0, rng.normal()])) for n in rng.choice(names, rng.integers(1, 8), False)}
        memory.add(row, float(rng.normal()), max_history)
        new, old = memory.refit(0.1), _old_fit(memory.rows, memory.targets, 0.1)
        ok &= new.columns == old.columns and np.array_equal(new.scale, old.scale)
        ok &= np.array_equal(new.weights, old.weights)
    return bool(ok)


class StaleOnTrim(ridge._Memory):
    """Planted fault: drops the oldest rows without re-indexing what is left."""

    def add(self, row: dict[str, float], target: float, max_history: int) -> None:
        self.rows.append(row)
        self.targets.append(target)
        del self.rows[:-max_history], self.targets[:-max_history]
        self._index([row], len(self.rows) - 1)


def test_the_incremental_ridge_fit_equals_the_rebuilt_one_bit_for_bit() -> None:
    for max_history in (1000, 7):  # 7: the oldest rows are dropped, columns renumbered
        assert _same_fits(ridge._Memory(), np.random.default_rng(max_history), max_history)
    assert not _same_fits(StaleOnTrim(), np.random.default_rng(7), 7)
