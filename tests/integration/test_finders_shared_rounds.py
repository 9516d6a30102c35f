"""Round 4's shared paths change no result: a site neuron's kept neighbours are the ones its own context computes
(for every example, asked in any order and again), and the round sets shared by the finders playing one level
give each finder the scores of each unit played alone; a planted fault in either path is caught."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from finder_fixtures import played_alone

from mirrorneuron.finders import harvested as harvested_mod
from mirrorneuron.finders import imitability as imitability_mod
from mirrorneuron.finders import site_data
from mirrorneuron.finders.imitability import BotImitability
from mirrorneuron.game import RoundSet
from mirrorneuron.harvest.cache import Harvest
from mirrorneuron.harvest.run import HarvestSpec, harvest
from mirrorneuron.models.adapter import TorchAdapter
from mirrorneuron.models.loader import zoo_adapter
from mirrorneuron.units.context import NeuronContext

SITE = "blocks.0.mlp.post"
UNITS = [0, 5, 11]


@pytest.fixture(scope="module")
def adapter() -> TorchAdapter:
    return zoo_adapter("tiny-gelu")


@pytest.fixture(scope="module")
def h(tmp_path_factory: pytest.TempPathFactory, adapter: TorchAdapter) -> Harvest:
    return harvest(adapter, HarvestSpec(max_windows=40), tmp_path_factory.mktemp("shared-rounds") / "h")


class ByWindow(harvested_mod.SiteNeuron):
    """Planted fault: neighbours kept per window, so another example of the window gets the first one's."""

    def neighbours(self, index: int) -> Any:
        key = index // self.harvest.positions
        if key not in self._neighbours:
            self._neighbours[key] = tuple(NeuronContext.neighbours(self, index))
        return self._neighbours[key]


def _kept_neighbours_are_own(h: Harvest, adapter: TorchAdapter, cls: type[harvested_mod.SiteNeuron]) -> bool:
    data = site_data(h, adapter, SITE)
    opener = data.open_unit
    assert opener is not None
    ok = True
    for j in (3, 200):
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(harvested_mod, "SiteNeuron", cls)
            kept = data.unit(j, full=True)
        own = NeuronContext(h, adapter, SITE, j)
        indices = [w * h.positions + p for w in (1, 6, 9) for p in (0, 5, 31)]
        for i in indices + indices[::-1]:  # asked again: from the kept ones
            ok &= list(kept.neighbours(i)) == list(own.neighbours(i))
    return bool(ok)


def test_kept_neighbours_are_the_units_own(h: Harvest, adapter: TorchAdapter) -> None:
    assert _kept_neighbours_are_own(h, adapter, harvested_mod.SiteNeuron)
    assert not _kept_neighbours_are_own(h, adapter, ByWindow)


# Each level played by two finders, the second reading the rounds the first built.
FINDERS = [BotImitability("knn", 1, 12), BotImitability("ridge", 1, 12), BotImitability("knn", 0, 12)]
FINDERS += [BotImitability("unigram", 0, 12), BotImitability("ridge", 2, 12), BotImitability("ridge", 3, 12)]


def _shared_scores_match_alone(h: Harvest, adapter: TorchAdapter) -> bool:
    small = site_data(h, adapter, SITE).subset(UNITS)
    ok = True
    for f in FINDERS:
        alone = [played_alone(h, adapter, SITE, j, f.bot, f.level, f.rounds) for j in UNITS]
        ok &= bool(np.allclose(f(small), alone, rtol=1e-12, atol=1e-12, equal_nan=True))
    return ok


def test_rounds_shared_by_the_finders_of_a_level_score_as_alone(
    h: Harvest, adapter: TorchAdapter, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _shared_scores_match_alone(h, adapter)
    built: list[int] = []
    real = imitability_mod.rounds_from

    def counted(*args: Any) -> RoundSet:
        built.append(int(args[1]))
        return real(*args)

    monkeypatch.setattr(imitability_mod, "rounds_from", counted)
    small = site_data(h, adapter, SITE).subset(UNITS)
    for f in FINDERS:
        f(small)
    assert sorted(built) == sorted([1, 0, 2, 3] * len(UNITS))  # once per (unit, level), not per finder
    again = BotImitability("knn", 0, 12)  # level 0 after level 3: only the last level is kept, so built again
    alone = [played_alone(h, adapter, SITE, j, again.bot, again.level, again.rounds) for j in UNITS]
    assert np.allclose(again(small), alone, rtol=1e-12, atol=1e-12, equal_nan=True)
    assert len(built) == 5 * len(UNITS) and set(small.memo) & {"rounds/12/1", "rounds/12/2", "rounds/12/3"} == set()
    real_memo = imitability_mod.rounds_memo

    def any_level(data: Any, rounds: int, level: int) -> dict[int, RoundSet]:  # planted: the level left out
        return real_memo(data, rounds, 0)

    monkeypatch.setattr(imitability_mod, "rounds_memo", any_level)
    assert not _shared_scores_match_alone(h, adapter)
