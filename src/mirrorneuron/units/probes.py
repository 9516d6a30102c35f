"""Linear probes: fit a concept from a site's activations; the probe's logit (or prediction) is a unit.

Binary concepts get logistic regression, numeric ones ridge regression, both on standardised activations
(the scaler is folded into the saved weights: ``value = (a − mean) · weight + bias``). Quality is
cross-validated (stratified k-fold): held-out accuracy, balanced accuracy and AUC next to the base rate
(the majority class share) for classifiers; held-out R² for regression.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mirrorneuron.harvest.cache import Harvest
from mirrorneuron.models.adapter import TorchAdapter
from mirrorneuron.types import UnitRef, UserError
from mirrorneuron.units.concepts import Concept, resolve_concept
from mirrorneuron.units.data import Progress, site_data
from mirrorneuron.units.readout import Readout, ReadoutContext
from mirrorneuron.units.saved import check_name, list_vectors, load_vector, save_vector

N_SIBLINGS = 4


@dataclass
class ProbeResult:
    readout: Readout
    metrics: dict[str, Any]
    path: Path | None


def probe_readout(model: str, site: str, name: str) -> Readout:
    """A saved probe as a read-out."""
    tensors, _ = load_vector(model, site, "probe", name)
    return _readout(UnitRef(model, site, "probe", name), tensors)


def _readout(ref: UnitRef, tensors: dict[str, np.ndarray]) -> Readout:
    return Readout(
        ref, tensors["weight"], float(tensors["bias"][0]), tensors["shift"], "identity", "mean", f"probe {ref.key}"
    )


def probe_context(h: Harvest, adapter: TorchAdapter, ref: UnitRef) -> ReadoutContext:
    """Game context of a saved probe; its level-2 same-kind neighbours are other probes at the site."""
    others = [m["name"] for _, m in list_vectors(ref.model, "probe") if m["site"] == ref.site and m["name"] != ref.key]
    siblings = [probe_readout(ref.model, ref.site, n) for n in others[:N_SIBLINGS]]
    return ReadoutContext(h, adapter, probe_readout(ref.model, ref.site, ref.key), siblings)


def list_probes(model: str) -> list[dict[str, Any]]:
    """Metadata (name, site, concept, task, metrics) of every saved probe of ``model``."""
    return [m for _, m in list_vectors(model, "probe")]


def sample_examples(h: Harvest, concept: Concept, max_examples: int, seed: int) -> np.ndarray:
    """Example indices to fit on: a seeded uniform sample (for a CSV, of its labelled examples)."""
    rng = np.random.default_rng(seed)
    pool = np.array(sorted(concept.labeler.table), dtype=np.int64) if concept.labeler.table is not None else None
    n = len(pool) if pool is not None else h.n_examples
    pick = np.sort(rng.choice(n, size=min(n, max_examples), replace=False))
    return pool[pick] if pool is not None else pick


def train_probe(
    model: str,
    site: str,
    concept: str,
    *,
    labeler: str | None = None,
    csv: Path | str | None = None,
    name: str | None = None,
    harvest: Harvest | Path | None = None,
    max_examples: int = 20_000,
    folds: int = 5,
    strength: float = 1.0,
    seed: int = 0,
    save: bool = True,
    progress: Progress | None = None,
) -> ProbeResult:
    """Fit, cross-validate and save a probe for ``concept`` at ``site``.

    ``strength`` is the regularisation strength (logistic ``C = 1/strength``, ridge ``alpha = strength``).
    """
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.model_selection import KFold, StratifiedKFold, cross_validate
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import StandardScaler

    name = check_name(name or concept.strip(), "probe name")
    if folds < 2 or max_examples < 10 or strength <= 0:
        raise UserError("need folds ≥ 2, max examples ≥ 10 and a positive regularisation strength")
    adapter, h, data = site_data(model, site, harvest, progress)
    c = resolve_concept(concept, data.modality, labeler, csv, h.n_examples)
    examples = sample_examples(h, c, max_examples, seed)
    y, mask, task = c.targets(data, examples)
    examples, y = examples[mask], y[mask]
    x = h.activations(site).reshape(h.n_examples, -1)[examples].astype(np.float32)
    t0 = time.perf_counter()
    metrics: dict[str, Any] = {"task": task, "n": len(y), "folds": folds, "strength": strength}
    est: Pipeline
    if task == "binary":
        n_pos = int(y.sum())
        if min(n_pos, len(y) - n_pos) < folds:
            raise UserError(
                f"concept {concept!r} has {n_pos} positive and {len(y) - n_pos} negative examples among {len(y)}; "
                f"each class needs at least {folds} (use a more common concept or a bigger harvest)"
            )
        est = make_pipeline(StandardScaler(), LogisticRegression(C=1.0 / strength, max_iter=2000))
        cv = cross_validate(
            est, x, y, cv=StratifiedKFold(folds, shuffle=True, random_state=seed),
            scoring=("accuracy", "balanced_accuracy", "roc_auc"),
        )  # fmt: skip
        est.fit(x, y)
        metrics |= {
            "estimator": "logistic regression",
            "positives": n_pos,
            "base_rate": max(n_pos, len(y) - n_pos) / len(y),
            "accuracy": float(np.mean(cv["test_accuracy"])),
            "accuracy_std": float(np.std(cv["test_accuracy"])),
            "balanced_accuracy": float(np.mean(cv["test_balanced_accuracy"])),
            "auc": float(np.mean(cv["test_roc_auc"])),
            "train_accuracy": float(est.score(x, y)),
        }
        coef, intercept = est[-1].coef_[0], float(est[-1].intercept_[0])
    else:
        if len(y) < 2 * folds or np.ptp(y) == 0:
            raise UserError(f"concept {concept!r} is constant or has too few labelled examples ({len(y)})")
        est = make_pipeline(StandardScaler(), Ridge(alpha=strength))
        cv = cross_validate(est, x, y, cv=KFold(folds, shuffle=True, random_state=seed), scoring=("r2",))
        est.fit(x, y)
        metrics |= {
            "estimator": "ridge regression",
            "label_mean": float(y.mean()),
            "label_std": float(y.std()),
            "r2": float(np.mean(cv["test_r2"])),
            "r2_std": float(np.std(cv["test_r2"])),
            "train_r2": float(est.score(x, y)),
        }
        coef, intercept = est[-1].coef_.reshape(-1), float(est[-1].intercept_)
    scaler = est[0]
    tensors = {"weight": coef / scaler.scale_, "shift": scaler.mean_, "bias": np.array([intercept])}
    metrics["seconds"] = round(time.perf_counter() - t0, 2)
    meta = {
        "concept": c.name,
        "labeler": labeler or (str(csv) if csv else c.labeler.name),
        "description": c.labeler.description,
        "harvest": str(h.path),
        "model_checksum": adapter.checksum,
        "metrics": metrics,
    }
    path = save_vector(model, site, "probe", name, tensors, meta) if save else None
    stored = {k: np.asarray(v, dtype=np.float32).astype(np.float64) for k, v in tensors.items()}
    return ProbeResult(_readout(UnitRef(model, site, "probe", name), stored), metrics, path)
