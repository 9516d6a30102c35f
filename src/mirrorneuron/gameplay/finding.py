"""Run finders over a model's harvest, or every model of a sweep, and store every unit's scores
(``mirrorneuron finders run [--sweep]``)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy.orm import Session

from mirrorneuron.finders import Finder, SiteData, site_data
from mirrorneuron.game import UnitStats
from mirrorneuron.harvest.cache import Harvest
from mirrorneuron.harvest.run import default_sites
from mirrorneuron.models.adapter import TorchAdapter
from mirrorneuron.models.loader import zoo_adapter
from mirrorneuron.store import repo
from mirrorneuron.store.scores import save_scores, scores_frame
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
) -> list[FinderRun]:
    """Score the neurons of ``model`` (its default harvest, made on first use, or ``harvest_dir``) at ``sites``
    (default: the neuron sites) with each finder and store the scores, committing after each finder."""
    adapter = zoo_adapter(model)
    h = ensure_harvest(adapter, harvest_dir)
    chosen = _sites(adapter, h, sites)
    total, done, runs = len(chosen) * len(finders), 0, []
    for site in chosen:
        data = site_data(h, adapter, site)
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


def scored_already(s: Session, model: str, finders: Sequence[Finder], n_units: int) -> set[str]:
    """The finders whose current version has stored a score (NULL included) for all ``n_units`` units."""
    frame = scores_frame(s, model)
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
) -> dict[str, list[FinderRun]]:
    """Every finder on every neuron of each sweep model (its sweep harvest, the one ``zoo sweep-bots``
    plays), skipping the finders that already scored all of a model's neurons at their current version, so
    a killed run resumes."""
    from mirrorneuron.gameplay.sweep_bots import sweep_harvest  # the sweep's harvest, made in one place

    out: dict[str, list[FinderRun]] = {}
    for i, name in enumerate(models):
        adapter, h = sweep_harvest(name, windows)
        done = scored_already(s, name, finders, sum(h.width(x) for x in _sites(adapter, h)))
        todo = [f for f in finders if f.name not in done]

        def step(d: int, n: int, label: str, i: int = i, name: str = name) -> None:
            if progress is not None:
                progress(1000 * i + (1000 * d) // max(n, 1), 1000 * len(models), f"{name} · {label}")

        out[name] = run_finders(s, name, todo, None, step) if todo else []
    if progress is not None:
        progress(1000 * len(models), 1000 * len(models), "done")
    return out
