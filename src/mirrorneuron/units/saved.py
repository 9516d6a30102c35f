"""Where probes, directions and SAEs live on disk, and reading/writing them.

Layout under ``$MIRRORNEURON_HOME/units``::

    MODEL/SITE/probe/NAME.safetensors       weight [d], shift [d], bias [1]
    MODEL/SITE/probe/NAME.json              concept, labeler, task, metrics
    MODEL/SITE/direction/NAME.safetensors   weight [d]
    MODEL/SITE/direction/NAME.json          source (file or concepts), norm
    MODEL/SITE/sae/NAME/cfg.json            SAELens-compatible config (+ a "mirrorneuron" section)
    MODEL/SITE/sae/NAME/sae_weights.safetensors   W_enc [d, K], b_enc [K], W_dec [K, d], b_dec [d]
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load_file

from mirrorneuron.config import settings
from mirrorneuron.harvest.cache import atomic_save, atomic_write_json
from mirrorneuron.types import UserError

_NAME = re.compile(r"^[^/\\:\s.][^/\\:\s]{0,99}$")
VECTOR_KINDS = ("probe", "direction")


def units_root() -> Path:
    return settings().home / "units"


def check_name(name: str, what: str = "name") -> str:
    if not _NAME.match(name):
        raise UserError(
            f"bad {what} {name!r}: use 1–100 characters without '/', '\\', ':' or spaces, not starting with '.'"
        )
    return name


def kind_dir(model: str, site: str, kind: str) -> Path:
    return units_root() / model / site / kind


def save_vector(
    model: str, site: str, kind: str, name: str, tensors: dict[str, np.ndarray], meta: dict[str, Any]
) -> Path:
    """Save a probe or direction (weights + JSON) and return the path of its JSON file."""
    folder = kind_dir(check_name(model, "model"), check_name(site, "site"), kind)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{check_name(name)}.json"
    atomic_save({k: np.asarray(v, dtype=np.float32) for k, v in tensors.items()}, folder / f"{name}.safetensors")
    atomic_write_json({"name": name, "model": model, "site": site, "kind": kind, **meta}, path)
    return path


def load_vector(model: str, site: str, kind: str, name: str) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The tensors and metadata of a saved probe or direction (UserError naming the saved ones if missing)."""
    folder = kind_dir(model, site, kind)
    meta_path, weights = folder / f"{name}.json", folder / f"{name}.safetensors"
    if not meta_path.exists() or not weights.exists():
        saved = [m["name"] for _, m in list_vectors(model, kind) if m["site"] == site]
        hint = f"saved at {site}: {', '.join(saved)}" if saved else f"none saved at {site}"
        verb = "mirrorneuron probes train" if kind == "probe" else "mirrorneuron directions add"
        raise UserError(f"no {kind} {name!r} for {model} at {site} ({hint}); make one with `{verb}`")
    try:
        tensors = {k: v.astype(np.float64) for k, v in load_file(str(weights)).items()}
        meta = json.loads(meta_path.read_text())
    except (SafetensorError, OSError, json.JSONDecodeError) as e:
        raise UserError(f"{weights}: corrupt saved {kind} ({e}); train or add it again") from None
    return tensors, meta


def list_vectors(model: str, kind: str) -> list[tuple[Path, dict[str, Any]]]:
    """(json path, metadata) of every saved probe or direction of ``model``, sorted by site then name."""
    root = units_root() / model
    out = []
    for path in sorted(root.glob(f"*/{kind}/*.json")):
        try:
            out.append((path, json.loads(path.read_text())))
        except (OSError, json.JSONDecodeError):
            continue  # a half-written or foreign file: not a unit
    return out


def sae_dirs(model: str, site: str | None = None) -> list[Path]:
    """Folders of the saved SAEs of ``model`` (at ``site`` if given)."""
    root = units_root() / model
    pattern = f"{site}/sae/*/cfg.json" if site else "*/sae/*/cfg.json"
    return [p.parent for p in sorted(root.glob(pattern))]


def write_json(obj: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(obj, path)
