"""The finders' batched and shared paths change no result: a site's windows run in batches (``prefetch``) give
every neuron the hints of its own one-window pass; the examples and bot-data tokens a site's contexts share
are each unit's own; and each fault planted in one of those paths makes the imitability scores differ from
each unit played alone through the game, so the equality test would catch it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
from finder_fixtures import played_alone

from mirrorneuron.finders import SiteData, site_data
from mirrorneuron.finders import harvested as harvested_mod
from mirrorneuron.finders.imitability import BotImitability
from mirrorneuron.harvest.cache import Harvest
from mirrorneuron.harvest.run import HarvestSpec, harvest
from mirrorneuron.models.adapter import TorchAdapter
from mirrorneuron.models.loader import zoo_adapter
from mirrorneuron.players import BotData
from mirrorneuron.units.context import NeuronContext, WindowCache

SITES = ("blocks.0.mlp.post", "blocks.1.mlp.post")
UNITS = [0, 5, 11]


@pytest.fixture(scope="module")
def adapter() -> TorchAdapter:
    return zoo_adapter("tiny-gelu")


@pytest.fixture(scope="module")
def h(tmp_path_factory: pytest.TempPathFactory, adapter: TorchAdapter) -> Harvest:
    return harvest(adapter, HarvestSpec(max_windows=40), tmp_path_factory.mktemp("batched") / "h")


class Shuffled(NeuronContext):
    """Planted fault: a batch's passes handed back in the wrong order (window k gets window k+1's)."""

    def _run_windows(self, windows: Sequence[int]) -> list[dict[str, np.ndarray]]:
        outs = NeuronContext._run_windows(self, windows)
        return outs[1:] + outs[:1]


class ShuffledSite(harvested_mod.SiteNeuron):
    """The same planted fault in the finders' contexts."""

    _run_windows = Shuffled._run_windows


def _same_hints(h: Harvest, adapter: TorchAdapter, cls: type[NeuronContext], batch: int) -> tuple[bool, WindowCache]:
    cache, ok = WindowCache(), True
    indices = [w * h.positions + p for w in (2, 3, 5, 8, 13) for p in (0, 9)]
    for site in SITES:
        first = cls(h, adapter, site, 0, cache)
        first.prefetch(indices, batch=batch)
        for j in (3,):
            shared, own = cls(h, adapter, site, j, cache), NeuronContext(h, adapter, site, j)
            for i in indices:
                ok &= list(shared.neighbours(i)) == list(own.neighbours(i))
                ok &= shared.contributions(i) == own.contributions(i)
    return bool(ok), cache


def test_batched_passes_give_every_neuron_its_own_passes_hints(h: Harvest, adapter: TorchAdapter) -> None:
    ok, cache = _same_hints(h, adapter, NeuronContext, batch=3)
    assert ok and cache.runs == 2 * 5  # every window of both sites came from the batches, none ran again
    assert not _same_hints(h, adapter, Shuffled, batch=3)[0]
    small = WindowCache(maxsize=4)  # never more windows than the cache keeps (they would be dropped unused)
    assert NeuronContext(h, adapter, SITES[0], 0, small).prefetch([w * h.positions for w in range(10)]) == 1
    assert small.runs == 4


def _scores_match_alone(h: Harvest, adapter: TorchAdapter, site: str, finders: list[BotImitability]) -> bool:
    data = site_data(h, adapter, site)
    small = data.subset(UNITS)
    ok = True
    for f in finders:
        shared = f(small)
        alone = [played_alone(h, adapter, site, j, f.bot, f.level, f.rounds) for j in UNITS]
        ok &= bool(np.allclose(shared, alone, rtol=1e-12, atol=1e-12, equal_nan=True))
    return ok


FINDERS = [BotImitability("unigram", 0, 12), BotImitability("knn", 1, 12), BotImitability("ridge", 2, 12)]


def test_the_shared_examples_and_tokens_are_each_units_own(
    h: Harvest, adapter: TorchAdapter, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = site_data(h, adapter, SITES[0])
    a, b = data.unit(2), data.unit(7, full=True)
    da, db = BotData.from_context(a, data.training), BotData.from_context(b, data.training)
    assert db.target_tokens is da.target_tokens and db.token_codes is da.token_codes  # shared, not per unit
    own = BotData.from_context(NeuronContext(h, adapter, SITES[0], 7), data.training)
    assert np.array_equal(db.values, own.values) and np.array_equal(db.target_tokens, own.target_tokens)
    mine = NeuronContext(h, adapter, SITES[0], 7)
    assert all(b.example(i) == mine.example(i) for i in range(0, 2000, 37))
    assert _scores_match_alone(h, adapter, SITES[1], FINDERS)


def test_planted_faults_in_the_shared_paths_are_caught(
    h: Harvest, adapter: TorchAdapter, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_example = harvested_mod.SiteShared.example

    def by_window(self: Any, index: int) -> Any:  # planted: examples shared per window, not per position
        memo = self.site_data.memo.setdefault("examples", {})
        key = index // h.positions
        if key not in memo:
            memo[key] = real_example(self, index)
        return memo[key]

    with monkeypatch.context() as m:
        m.setattr(harvested_mod.SiteShared, "example", by_window)
        assert not _scores_match_alone(h, adapter, SITES[0], FINDERS[1:2])

    real_tokens = harvested_mod.SiteShared.site_bot_data

    def rolled(self: Any, mask: np.ndarray) -> BotData | None:  # planted: tokens one example off
        like = real_tokens(self, mask)
        return None if like is None else BotData(like.values, np.roll(like.target_tokens, 1))

    with monkeypatch.context() as m:
        m.setattr(harvested_mod.SiteShared, "site_bot_data", rolled)
        assert not _scores_match_alone(h, adapter, SITES[0], FINDERS[:1])

    with monkeypatch.context() as m:
        m.setattr(harvested_mod, "SiteNeuron", ShuffledSite)
        assert not _scores_match_alone(h, adapter, SITES[0], FINDERS[2:])


def test_a_subset_scores_its_units_as_a_larger_subset_does(h: Harvest, adapter: TorchAdapter) -> None:
    data: SiteData = site_data(h, adapter, SITES[0])
    larger = BotImitability("ridge", 2, 12)(data.subset(range(16)))  # more units share the passes and tokens
    assert data.subset(UNITS).training is data.training  # the subset keeps the site's split (so it shares)
    assert np.allclose(BotImitability("ridge", 2, 12)(data.subset(UNITS)), larger[UNITS], rtol=1e-12, equal_nan=True)
