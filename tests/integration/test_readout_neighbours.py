"""Level 2 of a read-out never lists a read-out equal to the unit's own (|cosine| > 0.999): a direction saved
twice, a probe equal to a direction, or a direction along one site unit would otherwise show the answer."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import mirrorneuron.units.readout as readout_mod
from mirrorneuron.corpus import load_corpus
from mirrorneuron.game import Level, make_rounds
from mirrorneuron.harvest.cache import Harvest
from mirrorneuron.harvest.run import HarvestSpec, harvest
from mirrorneuron.models.loader import zoo_adapter
from mirrorneuron.units import ReadoutContext, open_unit
from mirrorneuron.units.directions import add_direction, direction_readout
from mirrorneuron.units.probes import probe_readout, train_probe

MODEL, SITE = "tiny-gelu", "blocks.1.resid.post"


@pytest.fixture(scope="module")
def h(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harvest]:
    root = tmp_path_factory.mktemp("neighbours")
    (root / "corpus.txt").write_text(load_corpus("austen").documents[0][:60_000])
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MIRRORNEURON_HOME", str(root / "home"))
        spec = HarvestSpec(corpus=str(root / "corpus.txt"), sites=(SITE,), max_windows=40, sample_size=500)
        yield harvest(zoo_adapter(MODEL), spec, root / "h")


def _labels(ctx: Any, group: str | None = None) -> set[str]:
    rounds = make_rounds(ctx, Level.NEIGHBOURS, 3, seed=0).rounds
    return {n.label for r in rounds for n in r.hints.neighbours if group is None or n.group == group}


def _save(tmp_path: Path, name: str, v: np.ndarray) -> None:
    np.save(tmp_path / f"{name}.npy", v)
    add_direction(MODEL, SITE, name, file=tmp_path / f"{name}.npy")


def test_a_direction_saved_twice_is_not_its_own_neighbour(
    h: Harvest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    v = np.random.default_rng(0).normal(size=64)
    _save(tmp_path, "a", v)
    _save(tmp_path, "a_again", v)
    _save(tmp_path, "a_flipped", -2.0 * v)  # same read-out up to scale and sign
    _save(tmp_path, "other", np.random.default_rng(1).normal(size=64))
    ctx = open_unit(MODEL, f"{SITE}/direction/a", harvest_dir=h.path)
    same = _labels(ctx, "same-layer")
    assert same == {"direction other"}
    assert "direction a" not in _labels(open_unit(MODEL, f"{SITE}/direction/a_again", harvest_dir=h.path))
    monkeypatch.setattr(readout_mod, "SAME_READOUT", 1.5)  # planted fault: the guard switched off
    leaky = open_unit(MODEL, f"{SITE}/direction/a", harvest_dir=h.path)
    assert {"direction a_again", "direction a_flipped"} <= _labels(leaky, "same-layer")


def test_a_probe_equal_to_a_direction(h: Harvest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    train_probe(MODEL, SITE, "capitalised", harvest=h, max_examples=2000)
    probe = probe_readout(MODEL, SITE, "capitalised")
    _save(tmp_path, "probe_copy", probe.weight)
    _save(tmp_path, "other", np.random.default_rng(1).normal(size=64))
    adapter = zoo_adapter(MODEL)
    siblings = [direction_readout(MODEL, SITE, "probe_copy"), direction_readout(MODEL, SITE, "other")]
    assert _labels(ReadoutContext(h, adapter, probe, siblings), "same-layer") == {"direction other"}
    as_direction = ReadoutContext(h, adapter, siblings[0], [probe, siblings[1]])
    assert _labels(as_direction, "same-layer") == {"direction other"}
    # as the game opens them (each kind's siblings are its own kind; the guard holds whatever they are)
    assert "direction probe_copy" not in _labels(open_unit(MODEL, f"{SITE}/probe/capitalised", harvest_dir=h.path))
    assert "probe capitalised" not in _labels(open_unit(MODEL, f"{SITE}/direction/probe_copy", harvest_dir=h.path))
    monkeypatch.setattr(readout_mod, "SAME_READOUT", 1.5)  # planted fault: the guard switched off
    assert "direction probe_copy" in _labels(ReadoutContext(h, adapter, probe, siblings), "same-layer")


def test_a_direction_along_one_unit_does_not_show_that_unit(
    h: Harvest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    e = np.zeros(64)
    e[7] = 3.0
    _save(tmp_path, "unit7", e)
    upstream = _labels(open_unit(MODEL, f"{SITE}/direction/unit7", harvest_dir=h.path), "upstream")
    assert upstream and not any(label.startswith(f"{SITE}#7 ") for label in upstream)
    monkeypatch.setattr(readout_mod, "SAME_READOUT", 1.5)  # planted fault: the guard switched off
    leaky = _labels(open_unit(MODEL, f"{SITE}/direction/unit7", harvest_dir=h.path), "upstream")
    assert any(label.startswith(f"{SITE}#7 ") for label in leaky)
