"""Run finders over a model's harvest and store every unit's scores (``mirrorneuron finders run``)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy.orm import Session

from mirrorneuron.finders import Finder, SiteData, site_data
from mirrorneuron.game import UnitStats
from mirrorneuron.harvest.run import default_sites
from mirrorneuron.models.loader import zoo_adapter
from mirrorneuron.store import repo
from mirrorneuron.store.scores import save_scores
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
    chosen = list(sites) or [x for x in default_sites(adapter) if x in h.sites] or h.sites
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
