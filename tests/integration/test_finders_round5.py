"""Round 5's shortcuts change no score, bit for bit: the finders read ``pooled_correlation`` instead of the
session's summary, a neuron converts its level-3 weight rows once, and a site's neurons share their
examples' probe hints. Each test plants a fault the comparison catches."""

from __future__ import annotations

import numpy as np
import pytest
from finder_fixtures import played_alone

from mirrorneuron.finders import harvested as harvested_mod
from mirrorneuron.finders import imitability as imitability_mod
from mirrorneuron.finders import site_data
from mirrorneuron.finders.imitability import imitability_finders
from mirrorneuron.game import NeighbourHint
from mirrorneuron.game.scoring import pooled_correlation
from mirrorneuron.harvest.cache import Harvest
from mirrorneuron.harvest.run import HarvestSpec, harvest
from mirrorneuron.models.adapter import TorchAdapter
from mirrorneuron.models.loader import zoo_adapter
from mirrorneuron.units.context import NeuronContext, WindowCache, _matrix, _vector

SITES = ("blocks.0.mlp.post", "blocks.1.mlp.post")
UNITS = [0, 7, 130]


@pytest.fixture(scope="module")
def adapter() -> TorchAdapter:
    return zoo_adapter("tiny-gelu")


@pytest.fixture(scope="module")
def h(tmp_path_factory: pytest.TempPathFactory, adapter: TorchAdapter) -> Harvest:
    return harvest(adapter, HarvestSpec(max_windows=40), tmp_path_factory.mktemp("round5") / "h")


def _all_equal(h: Harvest, adapter: TorchAdapter, site: str) -> bool:
    small = site_data(h, adapter, site).subset(UNITS)
    ok = True
    for f in imitability_finders(rounds=12):
        alone = [played_alone(h, adapter, site, j, f.bot, f.level, f.rounds) for j in UNITS]
        ok &= bool(np.array_equal(f(small), alone, equal_nan=True))
    return ok


def test_finder_scores_equal_the_session_summary_bit_for_bit(
    h: Harvest, adapter: TorchAdapter, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert all(_all_equal(h, adapter, site) for site in SITES)

    def off_by_an_ulp(actual: object, predicted: object) -> tuple[float, str | None]:
        corr, flag = pooled_correlation(actual, predicted)
        return float(np.nextafter(corr, 2.0)), flag

    monkeypatch.setattr(imitability_mod, "pooled_correlation", off_by_an_ulp)  # planted fault
    assert not _all_equal(h, adapter, SITES[0])


class NextRow(NeuronContext):
    """Planted fault: the cached weight rows are the next unit's."""

    @property
    def _rows(self):  # type: ignore[no-untyped-def,override]
        self.index += 1
        try:
            return NeuronContext._rows.func(self)  # type: ignore[attr-defined]
        finally:
            self.index -= 1


def _rows_match(h: Harvest, adapter: TorchAdapter, cls: type[NeuronContext]) -> bool:
    """A neuron's cached rows are its rows of the whole converted matrices, and its payload is the same as
    one computed from them on every example asked."""
    ok = True
    for site in SITES:
        for j in (0, 200):
            ctx = cls(h, adapter, site, j)
            wr = ctx.wiring
            assert wr.linear is not None
            n = wr.linear.weight.shape[0]
            weight, bias = _matrix(wr.linear.weight), _vector(wr.linear.bias, n)
            for i in (3, 700, 1500):
                x = ctx._forward(h.example_location(i)[0])["@input"][h.example_location(i)[1]].astype(np.float64)
                c = ctx.contributions(i)
                ok &= [v for _, v in c.terms] == (weight[j] * x).tolist() and c.bias == float(bias[j])
                ok &= c.offset == float(_vector(wr.out_bias, n)[j])
    return bool(ok)


def test_the_cached_weight_rows_are_the_units_own(h: Harvest, adapter: TorchAdapter) -> None:
    assert _rows_match(h, adapter, NeuronContext)
    assert not _rows_match(h, adapter, NextRow)


class WindowProbes(harvested_mod.SiteNeuron):
    """Planted fault: the shared probe hints kept per window, not per example (positions collide)."""

    def simple_probes(self, index: int) -> list[NeighbourHint]:
        first = self.harvest.example_location(index)[0] * self.harvest.positions
        return harvested_mod.SiteNeuron.simple_probes(self, first)


def _probes_match(h: Harvest, adapter: TorchAdapter, cls: type[harvested_mod.SiteNeuron]) -> bool:
    """Every neuron of a site sharing the probe hints sees its own neighbours (probes included)."""
    data, cache, ok = site_data(h, adapter, SITES[1]), WindowCache(), True
    for j in (2, 9):
        shared, own = cls(h, adapter, SITES[1], j, data, cache), NeuronContext(h, adapter, SITES[1], j)
        for i in (5, 6, h.positions * 3 + 1, h.positions * 3 + 40):
            ok &= list(shared.neighbours(i)) == list(own.neighbours(i))
    return bool(ok and len(data.memo["probes"]) == 4)


def test_probe_hints_shared_by_a_sites_neurons_are_each_examples_own(h: Harvest, adapter: TorchAdapter) -> None:
    assert _probes_match(h, adapter, harvested_mod.SiteNeuron)
    assert not _probes_match(h, adapter, WindowProbes)
