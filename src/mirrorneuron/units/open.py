"""Opening units: the harvest a unit needs (made on first use) and a game context for any unit id."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from mirrorneuron.config import settings
from mirrorneuron.harvest.cache import Harvest
from mirrorneuron.harvest.run import HarvestSpec, default_sites, harvest
from mirrorneuron.models.adapter import TorchAdapter
from mirrorneuron.models.loader import zoo_adapter
from mirrorneuron.types import UnitRef, UserError
from mirrorneuron.units.base import HarvestedUnit
from mirrorneuron.units.concepts import LabelData
from mirrorneuron.units.context import NeuronContext

Progress = Callable[[int, int], None]


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
        target, spec_sites = settings().harvest_dir / f"{adapter.name}@{'+'.join(extra)}", tuple(extra)
    else:
        target = out or settings().harvest_dir / adapter.name
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
    image = adapter.modality == "image"
    spec = HarvestSpec(corpus="digits" if image else "austen", sites=spec_sites, max_windows=None if image else (adapter.default_windows or 2000))
    return harvest(adapter, spec, target, progress)


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


def parse_unit(model: str, unit: str) -> UnitRef:
    """A full id ``MODEL/SITE/KIND/KEY``, or a short ``SITE/INDEX`` (neuron) / ``SITE/KIND/KEY`` of ``model``."""
    parts = unit.strip().split("/")
    if len(parts) == 2:
        unit = f"{model}/{parts[0]}/neuron/{parts[1]}"
    elif len(parts) == 3:
        unit = f"{model}/{unit.strip()}"
    ref = UnitRef.parse(unit)
    if ref.model != model:
        raise UserError(f"unit {unit} belongs to model {ref.model}, not {model}")
    return ref


def unit_context(adapter: TorchAdapter, h: Harvest, ref: UnitRef) -> HarvestedUnit:
    """The game context of any unit kind on harvest ``h`` (probes, directions and SAEs are loaded from disk)."""
    from mirrorneuron.units.directions import direction_context
    from mirrorneuron.units.probes import probe_context
    from mirrorneuron.units.sae import sae_feature_context

    if ref.kind == "neuron":
        return NeuronContext(h, adapter, ref.site, ref.index)
    opener = {"probe": probe_context, "direction": direction_context, "sae_feature": sae_feature_context}[ref.kind]
    return opener(h, adapter, ref)


def check_saved(ref: UnitRef) -> None:
    """UserError unless the probe, direction or SAE feature ``ref`` names is saved (neurons always exist)."""
    from mirrorneuron.units.sae import load_sae
    from mirrorneuron.units.saved import load_vector

    if ref.kind in ("probe", "direction"):
        load_vector(ref.model, ref.site, ref.kind, ref.key)
    elif ref.kind == "sae_feature":
        name, _, j = ref.key.rpartition(":")
        load_sae(ref.model, ref.site, name).feature(int(j))


def open_unit(
    model: str,
    unit: str | None = None,
    seed: int | None = None,
    harvest_dir: Path | None = None,
    progress: Progress | None = None,
) -> HarvestedUnit:
    """Open a unit of ``model`` by id (any kind; see :func:`parse_unit`), or a random lively neuron."""
    adapter = zoo_adapter(model)
    if unit:
        ref = parse_unit(model, unit)
        check_saved(ref)  # a missing probe / SAE / direction fails before any harvesting
        sites = [] if ref.kind == "neuron" else [ref.site]
        return unit_context(adapter, ensure_harvest(adapter, harvest_dir, progress, sites), ref)
    h = ensure_harvest(adapter, harvest_dir, progress)
    rng = np.random.default_rng(seed)
    sites = [s for s in default_sites(adapter) if s in h.sites] or h.sites
    site = sites[int(rng.integers(len(sites)))]
    spread = h.stats(site)["quantiles"][:, -1] - h.stats(site)["quantiles"][:, 0]
    lively = np.flatnonzero(spread > np.quantile(spread, 0.25))  # skip near-dead units
    index = int(rng.choice(lively)) if len(lively) else int(rng.integers(h.width(site)))
    return NeuronContext(h, adapter, site, index)
