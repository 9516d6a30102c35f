"""Harvest access for units: the harvest a unit needs (made or resumed on first use) and the label data.

Probes, directions and SAEs read their training data through here; :mod:`mirrorneuron.units.open` opens
units on top of it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from mirrorneuron.config import settings
from mirrorneuron.harvest.cache import Harvest
from mirrorneuron.harvest.run import default_sites, default_spec, harvest
from mirrorneuron.models.adapter import TorchAdapter
from mirrorneuron.models.loader import zoo_adapter
from mirrorneuron.types import UserError
from mirrorneuron.units.concepts import LabelData

Progress = Callable[[int, int], None]


def default_harvest_dir(model: str) -> Path:
    """Where the default harvest of ``model`` lives (``$MIRRORNEURON_HOME/harvests/MODEL``)."""
    return settings().harvest_dir / model


def _finished(path: Path) -> Harvest | None:
    if (path / "manifest.json").exists():
        try:
            return Harvest(path)
        except UserError:
            return None  # incomplete: resume
    return None


def ensure_harvest(
    adapter: TorchAdapter, out: Path | None = None, progress: Progress | None = None, sites: Sequence[str] = ()
) -> Harvest:
    """A harvest of the model that holds ``sites`` (default: the neuron sites), made (or resumed) on first use.

    The default harvest (``$MIRRORNEURON_HOME/harvests/MODEL``) holds the neuron sites. Other sites (the
    residual stream, for probes and SAEs) get their own harvest ``MODEL@SITE+SITE`` over the same windows, so
    example indices agree across all harvests of a model. An explicit ``out`` that lacks a site is an error.
    """
    wanted = list(dict.fromkeys(sites))
    for s in wanted:
        adapter.width(s)  # unknown site → UserError
    extra = [s for s in wanted if s not in default_sites(adapter)]
    if out is None and extra:
        target, spec_sites = default_harvest_dir(f"{adapter.name}@{'+'.join(extra)}"), tuple(extra)
    else:
        target = out or default_harvest_dir(adapter.name)
        spec_sites = tuple(default_sites(adapter) + extra) if extra else ()
    done = _finished(target)
    if done is not None:
        missing = [s for s in wanted if s not in done.sites]
        if missing:
            raise UserError(
                f"harvest at {target} lacks site(s) {', '.join(missing)}; harvest them with "
                f"`mirrorneuron harvest {adapter.name} --sites {','.join(wanted)} --out OTHER_FOLDER`"
            )
        return done
    return harvest(adapter, default_spec(adapter, sites=spec_sites), target, progress)


def site_data(
    model: str, site: str, harvest_: Harvest | Path | None = None, progress: Progress | None = None
) -> tuple[TorchAdapter, Harvest, LabelData]:
    """The adapter, a harvest holding ``site`` and the label data, for training probes/SAEs and adding directions."""
    adapter = zoo_adapter(model)
    adapter.width(site)
    if isinstance(harvest_, Harvest):
        h = harvest_
        if h.model != model:
            raise UserError(f"harvest at {h.path} is of model {h.model!r}, not {model!r}")
        h.width(site)
    else:
        h = ensure_harvest(adapter, harvest_, progress, [site])
    return adapter, h, LabelData(h, vocab_of(adapter))


def vocab_of(adapter: TorchAdapter) -> np.ndarray | None:
    """Every token id's string (text models), or None."""
    if adapter.tokenizer is None:
        return None
    return np.array(adapter.tokens(list(range(adapter.tokenizer.get_vocab_size()))), dtype=object)
