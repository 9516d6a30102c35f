"""Directions: any vector ``v`` at a site; the unit's value is ``a · v``.

A direction comes from a file (``.npy``, ``.safetensors`` with one tensor or a ``direction`` tensor, or ``.txt``
of numbers separated by spaces, commas or newlines), or from the difference of two concept means
(``mean(a | label = A) − mean(a | label = B)``, scaled to unit norm so the value is a projection length).
File directions are used as given unless ``normalise`` is set.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mirrorneuron.harvest.cache import Harvest
from mirrorneuron.models.adapter import TorchAdapter
from mirrorneuron.types import UnitRef, UserError
from mirrorneuron.units.concepts import canon, resolve_concept
from mirrorneuron.units.data import Progress, site_data
from mirrorneuron.units.readout import Readout, ReadoutContext
from mirrorneuron.units.saved import check_name, list_vectors, load_vector, save_vector

N_SIBLINGS = 4


@dataclass
class DirectionResult:
    readout: Readout
    meta: dict[str, Any]
    path: Path | None


def read_vector(path: Path | str, width: int) -> np.ndarray:
    """A vector of ``width`` finite numbers from a .npy / .safetensors / .txt file (UserError otherwise)."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"direction file {path} not found")
    try:
        if path.suffix == ".npy":
            v = np.load(path, allow_pickle=False)
        elif path.suffix == ".safetensors":
            from safetensors.numpy import load_file

            tensors = load_file(str(path))
            if len(tensors) != 1 and "direction" not in tensors:
                raise UserError(f"{path} holds {len(tensors)} tensors; name the one to use 'direction'")
            v = tensors.get("direction", next(iter(tensors.values())))
        elif path.suffix in (".txt", ".csv", ""):
            v = np.array([float(t) for t in re.split(r"[\s,;]+", path.read_text().strip()) if t])
        else:
            raise UserError(f"direction file {path}: use .npy, .safetensors or .txt")
    except UserError:
        raise
    except (ValueError, OSError) as e:
        raise UserError(f"cannot read direction file {path}: {e}") from None
    v = np.asarray(v, dtype=np.float64)
    if v.size != width or v.ndim > 2 or (v.ndim == 2 and 1 not in v.shape):
        raise UserError(
            f"direction file {path} has shape {v.shape}; the site has {width} units, so give {width} numbers"
        )
    v = v.reshape(-1)
    if not np.all(np.isfinite(v)) or not np.any(v):
        raise UserError(f"direction file {path} has non-finite values or is all zeros")
    return v


def concept_direction(
    h: Harvest, site: str, data: Any, labeler: str, a: str, b: str, max_examples: int = 50_000, seed: int = 0
) -> tuple[np.ndarray, dict[str, Any]]:
    """Unit-norm ``mean(acts | label=a) − mean(acts | label=b)`` over a seeded sample of examples."""
    c = resolve_concept(labeler, data.modality)
    rng = np.random.default_rng(seed)
    examples = np.sort(rng.choice(h.n_examples, size=min(h.n_examples, max_examples), replace=False))
    labels, mask = c.raw(data, examples)
    acts = h.activations(site).reshape(h.n_examples, -1)
    means, counts = [], []
    for value in (a, b):
        pick = examples[mask & (labels == canon(value))]
        if len(pick) == 0:
            seen = ", ".join(sorted(set(labels[mask].tolist()))[:10])
            raise UserError(f"no example has {labeler}={value} (values seen: {seen})")
        means.append(acts[pick].astype(np.float64).mean(0))
        counts.append(len(pick))
    diff = means[0] - means[1]
    norm = float(np.linalg.norm(diff))
    if norm == 0:
        raise UserError(f"the means of {labeler}={a} and {labeler}={b} are identical")
    return diff / norm, {"source": "concepts", "labeler": labeler, "a": a, "b": b, "counts": counts, "raw_norm": norm}


def add_direction(
    model: str,
    site: str,
    name: str,
    *,
    file: Path | str | None = None,
    concepts: tuple[str, str, str] | None = None,
    normalise: bool = False,
    harvest: Harvest | Path | None = None,
    progress: Progress | None = None,
) -> DirectionResult:
    """Save a direction from ``file`` or from ``concepts = (labeler, A, B)`` and return it."""
    check_name(name, "direction name")
    if (file is None) == (concepts is None):
        raise UserError("give a direction either as --file F or as --concepts LABELER A B")
    if file is not None:
        from mirrorneuron.models.loader import zoo_adapter

        v = read_vector(file, zoo_adapter(model).width(site))
        meta: dict[str, Any] = {"source": "file", "file": str(file), "raw_norm": float(np.linalg.norm(v))}
        if normalise:
            v = v / np.linalg.norm(v)
    else:
        assert concepts is not None
        _, h, data = site_data(model, site, harvest, progress)
        v, meta = concept_direction(h, site, data, *concepts)
    meta["norm"] = float(np.linalg.norm(v))
    path = save_vector(model, site, "direction", name, {"weight": v}, meta)
    return DirectionResult(direction_readout(model, site, name), meta, path)


def direction_readout(model: str, site: str, name: str) -> Readout:
    tensors, _ = load_vector(model, site, "direction", name)
    return Readout(UnitRef(model, site, "direction", name), tensors["weight"], label=f"direction {name}")


def list_directions(model: str) -> list[dict[str, Any]]:
    return [m for _, m in list_vectors(model, "direction")]


def direction_context(h: Harvest, adapter: TorchAdapter, ref: UnitRef) -> ReadoutContext:
    """Game context of a saved direction; its same-kind neighbours are other directions at the site."""
    others = [m["name"] for m in list_directions(ref.model) if m["site"] == ref.site and m["name"] != ref.key]
    siblings = [direction_readout(ref.model, ref.site, n) for n in others[:N_SIBLINGS]]
    return ReadoutContext(h, adapter, direction_readout(ref.model, ref.site, ref.key), siblings)
