"""Opening units: one registry of unit kinds, and one lively-unit picker shared by the game and the web app."""

from pathlib import Path

import numpy as np

from mirrorneuron.models.loader import zoo_adapter
from mirrorneuron.types import UNIT_KINDS, UnitRef
from mirrorneuron.units import ensure_harvest, lively_unit, open_unit
from mirrorneuron.units.open import KINDS
from mirrorneuron.web.unitcache import UnitCache

MODEL = "digits-mlp"


def test_every_unit_kind_has_an_opener() -> None:
    assert set(KINDS) == set(UNIT_KINDS)


def test_the_picked_neuron_is_lively(isolated_home: Path) -> None:
    adapter = zoo_adapter(MODEL)
    h = ensure_harvest(adapter)
    rng = np.random.default_rng(0)
    refs = [lively_unit(adapter, h, rng) for _ in range(40)]
    for ref in refs:
        q = h.stats(ref.site)["quantiles"]
        spread = q[:, -1] - q[:, 0]
        assert ref.model == MODEL and ref.kind == "neuron"
        assert spread[ref.index] > np.quantile(spread, 0.25), ref.id
    assert len({r.id for r in refs}) > 10  # random, not one fixed unit


def test_game_and_web_pick_the_same_unit_for_a_seed(isolated_home: Path) -> None:
    cache = UnitCache()
    for seed in (0, 1, 2, 3):
        unit_id = cache.random_unit(MODEL, seed)
        assert open_unit(MODEL, seed=seed).unit_id == unit_id
        assert cache.context(unit_id).unit_id == unit_id
    short = UnitRef.parse(unit_id).site + f"/{UnitRef.parse(unit_id).index}"
    assert cache.context(short, MODEL).unit_id == unit_id  # short ids of a model open the same unit
