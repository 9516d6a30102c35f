"""Run finders over a model's harvest, or every model of a sweep, and store every unit's scores
(``mirrorneuron finders run [--sweep]``)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy.orm import Session

from mirrorneuron.finders import Finder, SiteData, site_data
from mirrorneuron.game import UnitStats
from mirrorneuron.gameplay.sweep_bots import BotRun, played_units, sweep_harvest
from mirrorneuron.harvest.cache import Harvest
from mirrorneuron.harvest.run import default_sites
from mirrorneuron.models.adapter import TorchAdapter
from mirrorneuron.models.loader import zoo_adapter
from mirrorneuron.store import repo
from mirrorneuron.store.scores import save_scores, scores_frame
from mirrorneuron.types import UnitRef
from mirrorneuron.units import ensure_harvest

Progress = Callable[[int, int, str], None]  # (steps done, steps total, what is running)


@dataclass(frozen=True)
class FinderRun:
    finder: str
    version: str
    site: str
    unit_ids: tuple[str, ...]
    scores: np.ndarray
    seconds: float


def register_units(s: Session, data: SiteData, checksum: str, modality: str) -> None:
    """Register the model and the site's neurons, with the level-0 stats a game of them records."""
    repo.ensure_model(s, data.model, modality, checksum)
    for j, unit_id in enumerate(data.unit_ids):
        stats = UnitStats.from_values(np.asarray(data.acts[:, j], dtype=np.float64)[data.training]).to_dict()
        repo.ensure_unit(s, unit_id, data.model, data.site, "neuron", j, stats)


def run_finders(
    s: Session,
    model: str,
    finders: Sequence[Finder],
    harvest_dir: Path | None = None,
    progress: Progress | None = None,
    sites: Sequence[str] = (),
    units: Mapping[str, Sequence[int]] | None = None,
) -> list[FinderRun]:
    """Score the neurons of ``model`` (its default harvest, made on first use, or ``harvest_dir``) at ``sites``
    (default: the neuron sites; with ``units``, only those neurons of each site named there) with each finder
    and store the scores, committing after each finder."""
    adapter = zoo_adapter(model)
    h = ensure_harvest(adapter, harvest_dir)
    chosen = _sites(adapter, h, sites)
    if units is not None:
        chosen = [x for x in chosen if units.get(x)]
    total, done, runs = len(chosen) * len(finders), 0, []
    for site in chosen:
        data = site_data(h, adapter, site)
        if units is not None:
            data = data.subset(sorted(units[site]))
        register_units(s, data, adapter.checksum, adapter.modality)
        s.commit()
        for f in finders:
            if progress is not None:
                progress(done, total, f"{site} · {f.name}")
            start = time.perf_counter()
            scores = f(data)
            save_scores(s, f.name, f.version, dict(zip(data.unit_ids, scores.tolist(), strict=True)))
            s.commit()
            runs.append(FinderRun(f.name, f.version, site, data.unit_ids, scores, time.perf_counter() - start))
            done += 1
    if progress is not None:
        progress(done, total, "done")
    return runs


def _sites(adapter: TorchAdapter, h: Harvest, sites: Sequence[str] = ()) -> list[str]:
    return list(sites) or [x for x in default_sites(adapter) if x in h.sites] or list(h.sites)


def _ids(model: str, units: Mapping[str, Sequence[int]]) -> set[str]:
    return {UnitRef(model, site, "neuron", j).id for site, idx in units.items() for j in idx}


def scored_already(
    s: Session,
    model: str,
    finders: Sequence[Finder],
    n_units: int,
    among: set[str] | None = None,
    rescore_missing: bool = False,
) -> set[str]:
    """The finders whose current version has stored a score (NULL included, unless ``rescore_missing``) for
    ``n_units`` units of ``model`` (of the units ``among``, if given)."""
    frame = scores_frame(s, model)
    if among is not None:
        frame = frame[frame["unit_id"].isin(among)]
    if rescore_missing:
        frame = frame[frame["score"].notna()]
    done = set()
    for f in finders:
        mine = frame[(frame["finder"] == f.name) & (frame["finder_version"] == f.version)]
        if mine["unit_id"].nunique() >= n_units:
            done.add(f.name)
    return done


def run_sweep_finders(
    s: Session,
    models: Sequence[str],
    finders: Sequence[Finder],
    windows: int,
    progress: Progress | None = None,
    played: BotRun | None = None,
    rescore_missing: bool = False,
) -> dict[str, list[FinderRun]]:
    """Every finder on every neuron of each sweep model (its sweep harvest, the one ``zoo sweep-bots``
    plays) — or, with ``played``, only on the neurons that bot run plays — skipping the finders that already
    scored all of them at their current version, so a killed run resumes. A stored NULL counts as scored
    (a dead unit's imitability stays NULL) unless ``rescore_missing``: then such a finder runs again."""
    out: dict[str, list[FinderRun]] = {}
    for i, name in enumerate(models):
        adapter, h = sweep_harvest(name, windows)
        units: dict[str, list[int]] | None = None
        if played is not None:
            units = {}
            for ref in played_units(adapter, h, played):
                units.setdefault(ref.site, []).append(ref.index)
        n_units = sum(map(len, units.values())) if units is not None else sum(map(h.width, _sites(adapter, h)))
        among = None if units is None else _ids(name, units)
        done = scored_already(s, name, finders, n_units, among, rescore_missing)
        todo = [f for f in finders if f.name not in done]

        def step(d: int, n: int, label: str, i: int = i, name: str = name) -> None:
            if progress is not None:
                progress(1000 * i + (1000 * d) // max(n, 1), 1000 * len(models), f"{name} · {label}")

        out[name] = run_finders(s, name, todo, None, step, units=units) if todo else []
    if progress is not None:
        progress(1000 * len(models), 1000 * len(models), "done")
    return out


def score_model_alone(
    name: str, finder_names: Sequence[str], windows: int, played: BotRun | None, rescore_missing: bool = False
) -> list[FinderRun]:
    """:func:`run_sweep_finders` for one model in a worker process (its own store session, one torch thread;
    the finders are looked up again by name or import path)."""
    import torch

    from mirrorneuron.finders import get
    from mirrorneuron.gameplay.local import local_store

    torch.set_num_threads(1)
    with local_store() as s:
        finders = [get(n) for n in finder_names]
        return run_sweep_finders(s, [name], finders, windows, None, played, rescore_missing)[name]
