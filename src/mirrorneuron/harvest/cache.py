"""The on-disk harvest cache: ``manifest.json``, ``inputs.safetensors``, activation shards, ``stats.safetensors``.

Layout of a harvest folder::

    manifest.json            model id + checksum, corpus id + checksum, sites, widths, counts, versions
    inputs.safetensors       "inputs": token windows int32 [N, T] or images float32 [N, H, W]
    shards/00000.safetensors one tensor per site: activations [n, P, U] (float16 by default)
    state.safetensors        accumulator state after the last complete shard (deleted when done)
    stats.safetensors        per site: count, mean, var, min, max, frac_pos, quantiles, top-k, sample

An *example* is one (window, position): example index ``e = window * P + position``.
"""

from __future__ import annotations

import hashlib
import json
import os
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
from safetensors import SafetensorError, safe_open
from safetensors.numpy import load_file, save_file

from mirrorneuron.types import UserError

FORMAT_VERSION = 1


def atomic_save(tensors: dict[str, np.ndarray], path: Path) -> None:
    """Write a safetensors file so that a crash leaves either the old file or the complete new one."""
    tmp = path.with_name(path.name + ".tmp")
    save_file({k: np.ascontiguousarray(v) for k, v in tensors.items()}, str(tmp))
    os.replace(tmp, path)


def atomic_write_json(obj: dict[str, Any], path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2))
    os.replace(tmp, path)


def shard_path(root: Path, shard: int) -> Path:
    return root / "shards" / f"{shard:05d}.safetensors"


def _load(path: Path, key: str | None = None) -> dict[str, np.ndarray]:
    """Every tensor of a safetensors file, or only ``key`` (a shard holds every site: read just the one asked)."""
    try:
        if key is None:
            return load_file(str(path))
        with safe_open(str(path), framework="numpy") as f:
            return {key: f.get_tensor(key)}
    except FileNotFoundError:
        raise UserError(f"{path} is missing: the harvest is incomplete; run the harvest again to resume it") from None
    except (SafetensorError, OSError) as e:
        raise UserError(f"{path} is corrupt ({e}); delete the harvest folder and harvest again") from None


class Harvest:
    """Read access to a finished harvest: stats, any unit's activations, and the inputs behind each example."""

    def __init__(self, path: Path | str, activations: dict[str, np.ndarray] | None = None) -> None:
        """``activations``: site → [N, P, U], the shards' contents already in memory (the harvest that just wrote
        them hands them over, so its first reader does not read them back)."""
        self.path = Path(path)
        self._acts: dict[str, np.ndarray] = dict(activations or {})
        try:
            self.manifest: dict[str, Any] = json.loads((self.path / "manifest.json").read_text())
        except FileNotFoundError:
            raise UserError(
                f"{self.path} is not a harvest (no manifest.json); run `mirrorneuron harvest MODEL`"
            ) from None
        except json.JSONDecodeError as e:
            raise UserError(f"{self.path}/manifest.json is corrupt ({e})") from None
        if not self.manifest.get("complete"):
            raise UserError(f"harvest at {self.path} is incomplete; run the same harvest command again to resume it")

    @property
    def model(self) -> str:
        return str(self.manifest["model"]["name"])

    @property
    def sites(self) -> list[str]:
        return list(self.manifest["sites"])

    def width(self, site: str) -> int:
        return int(self.manifest["sites"][self._check(site)])

    @property
    def n_windows(self) -> int:
        return int(self.manifest["n_windows"])

    @property
    def positions(self) -> int:
        return int(self.manifest["positions"])

    @property
    def n_examples(self) -> int:
        return self.n_windows * self.positions

    def _check(self, site: str) -> str:
        if site not in self.manifest["sites"]:
            raise UserError(f"site {site!r} was not harvested; harvested sites: {', '.join(self.sites)}")
        return site

    @cached_property
    def inputs(self) -> np.ndarray:
        return _load(self.path / "inputs.safetensors")["inputs"]

    @cached_property
    def _stats(self) -> dict[str, np.ndarray]:
        return _load(self.path / "stats.safetensors")

    def stats(self, site: str) -> dict[str, np.ndarray]:
        prefix = self._check(site) + "/"
        return {k[len(prefix) :]: v for k, v in self._stats.items() if k.startswith(prefix)}

    def activations(self, site: str) -> np.ndarray:
        """All activations of a site, [N, P, U] (float16 or float32 as stored)."""
        return self._site_acts(self._check(site))

    def _site_acts(self, site: str) -> np.ndarray:
        if site not in self._acts:
            shards = [_load(shard_path(self.path, s), site)[site] for s in range(int(self.manifest["n_shards"]))]
            self._acts[site] = np.concatenate(shards)
        return self._acts[site]

    def unit_values(self, site: str, index: int) -> np.ndarray:
        """One unit's activation on every example, float32 [N * P]."""
        if not 0 <= index < self.width(site):
            raise UserError(f"unit index {index} out of range for {site} (0..{self.width(site) - 1})")
        return self.activations(site)[:, :, index].reshape(-1).astype(np.float32)

    def example_location(self, example: int) -> tuple[int, int]:
        """(window, position) of an example index."""
        if not 0 <= example < self.n_examples:
            raise UserError(f"example {example} out of range (0..{self.n_examples - 1})")
        return divmod(example, self.positions)

    def example_id(self, example: int) -> str:
        """Stable id = hash of the model's name, its whole input window and the target position: an encoder
        sees the tokens after the target (and the example shown includes some), and the store keys examples
        by id alone, so two examples get one id only if they are the same input to the same model."""
        w, p = self.example_location(example)
        blob = self.model.encode() + b"\0" + np.ascontiguousarray(self.inputs[w]).tobytes() + p.to_bytes(4, "little")
        return hashlib.sha1(blob).hexdigest()[:16]
