"""Sparse autoencoders: train a small ReLU SAE on a site's harvested activations, or load a SAELens one.

Features: ``f = relu((a − b_dec) @ W_enc + b_enc)``; reconstruction ``â = f @ W_dec + b_dec``. Each feature is a
unit (``sae_feature``, key ``SAE_NAME:J``). SAEs are saved in SAELens' folder format (``cfg.json`` +
``sae_weights.safetensors`` with ``W_enc`` [d_in, d_sae], ``b_enc``, ``W_dec`` [d_sae, d_in], ``b_dec``), so one
loader reads ours and SAELens' (:func:`load_sae_folder`; no SAELens import needed). The cfg's hook name
(``metadata.hook_name`` in SAELens ≥ 6, top-level ``hook_name`` before) may be a TransformerLens hook name
(``blocks.1.hook_resid_post``) or one of our sites; ``import_sae`` only imports an SAE at the site it names.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mirrorneuron.harvest.cache import Harvest
from mirrorneuron.models.adapter import TorchAdapter
from mirrorneuron.types import UnitRef, UserError
from mirrorneuron.units.readout import Readout, ReadoutContext, apply_linear
from mirrorneuron.units.saved import check_name, kind_dir, sae_dirs, write_json

N_SIBLINGS = 4
WEIGHTS, CONFIG = "sae_weights.safetensors", "cfg.json"


@dataclass(eq=False)
class SparseAutoencoder:
    """A ReLU SAE in the site's raw activation units (any input normalisation is folded into the weights).

    Parameters are held at float32 precision (as saved), so a trained SAE and its reloaded copy agree exactly.
    """

    name: str
    model: str
    site: str
    W_enc: np.ndarray  # [d_in, d_sae]
    b_enc: np.ndarray  # [d_sae]
    W_dec: np.ndarray  # [d_sae, d_in]
    b_dec: np.ndarray  # [d_in]
    apply_b_dec_to_input: bool = True
    metrics: dict[str, Any] = field(default_factory=dict)
    source: str = "mirrorneuron"
    hook_name: str | None = None  # the hook its folder says it was trained on (SAELens or TransformerLens name)

    def __post_init__(self) -> None:
        for k in ("W_enc", "b_enc", "W_dec", "b_dec"):
            arr = np.asarray(getattr(self, k), dtype=np.float32).astype(np.float64)  # as saved
            if not np.all(np.isfinite(arr)):
                raise UserError(f"SAE {self.name}: {k} has non-finite values")
            setattr(self, k, arr)
        d, k = self.W_enc.shape
        if self.b_enc.shape != (k,) or self.W_dec.shape != (k, d) or self.b_dec.shape != (d,):
            raise UserError(
                f"SAE {self.name}: inconsistent shapes W_enc {self.W_enc.shape}, b_enc {self.b_enc.shape}, "
                f"W_dec {self.W_dec.shape}, b_dec {self.b_dec.shape}"
            )

    @property
    def d_in(self) -> int:
        return int(self.W_enc.shape[0])

    @property
    def d_sae(self) -> int:
        return int(self.W_enc.shape[1])

    @property
    def _shift(self) -> np.ndarray | None:
        return self.b_dec if self.apply_b_dec_to_input else None

    def encode(self, acts: np.ndarray) -> np.ndarray:
        """Feature activations [..., d_sae] of activation rows [..., d_in]."""
        return apply_linear(acts, self.W_enc, self.b_enc, self._shift, "relu")

    def decode(self, features: np.ndarray) -> np.ndarray:
        return np.asarray(features @ self.W_dec + self.b_dec)

    def evaluate(self, acts: np.ndarray) -> dict[str, float]:
        """Reconstruction MSE (per element, raw units), fraction of variance explained, mean L0, dead fraction."""
        x = acts.reshape(-1, self.d_in).astype(np.float64)
        f = self.encode(x)
        err = self.decode(f) - x
        total = float(((x - x.mean(0)) ** 2).sum())
        return {
            "mse": float((err**2).mean()),
            "fve": 1.0 - float((err**2).sum()) / max(total, 1e-30),
            "l0": float((f > 0).sum(1).mean()),
            "dead_fraction": float(((f > 0).sum(0) == 0).mean()),
        }

    def feature(self, j: int) -> Readout:
        if not 0 <= j < self.d_sae:
            raise UserError(f"SAE {self.name} has features 0..{self.d_sae - 1}, not {j}")
        ref = UnitRef(self.model, self.site, "sae_feature", f"{self.name}:{j}")
        return Readout(ref, self.W_enc[:, j], float(self.b_enc[j]), self._shift, "relu", "b_dec", ref.key)

    def similar(self, j: int, k: int = N_SIBLINGS) -> list[tuple[int, float]]:
        """The ``k`` features whose decoder directions are most similar (cosine) to feature ``j``'s."""
        dec = self.W_dec / np.maximum(np.linalg.norm(self.W_dec, axis=1, keepdims=True), 1e-12)
        cos = dec @ dec[j]
        cos[j] = -np.inf
        order = np.argsort(-cos, kind="stable")[:k]
        return [(int(i), float(cos[i])) for i in order if np.isfinite(cos[i])]

    def save(self, folder: Path | None = None) -> Path:
        """Write the SAELens folder format (``cfg.json`` + ``sae_weights.safetensors``) and return the folder."""
        from mirrorneuron.harvest.cache import atomic_save

        folder = folder or kind_dir(self.model, self.site, "sae") / check_name(self.name, "SAE name")
        folder.mkdir(parents=True, exist_ok=True)
        atomic_save(
            {k: getattr(self, k).astype(np.float32) for k in ("W_enc", "b_enc", "W_dec", "b_dec")}, folder / WEIGHTS
        )
        cfg = {
            "architecture": "standard",
            "d_in": self.d_in,
            "d_sae": self.d_sae,
            "dtype": "float32",
            "device": "cpu",
            "apply_b_dec_to_input": self.apply_b_dec_to_input,
            "normalize_activations": "none",
            "reshape_activations": "none",
            "metadata": {"model_name": self.model, "hook_name": self.site},
            "mirrorneuron": {"name": self.name, "source": self.source, "metrics": self.metrics},
        }
        write_json(cfg, folder / CONFIG)
        return folder


def _check_cfg(cfg: dict[str, Any], where: str) -> bool:
    """Whether the SAE subtracts b_dec from its input; UserError for kinds that are not plain ReLU SAEs."""
    arch = str(cfg.get("architecture", "standard"))
    act = str(cfg.get("activation_fn_str", cfg.get("activation_fn", "relu")))
    if arch != "standard" or act != "relu":
        raise UserError(
            f"{where}: only standard ReLU SAEs can be units (got architecture {arch!r}, activation {act!r}); "
            "JumpReLU / TopK / gated features are not a ReLU of one linear read-out"
        )
    norm = cfg.get("normalize_activations", "none")
    if norm not in (None, False, "none"):
        raise UserError(
            f"{where}: normalize_activations={norm!r} is not supported; fold the scaling into the weights first "
            "(SAELens: sae.fold_activation_norm_scaling_factor(factor)) and save it again"
        )
    return bool(cfg.get("apply_b_dec_to_input", True))


def site_of_hook(hook_name: str) -> str:
    """Our site name for a TransformerLens hook name (``blocks.1.hook_resid_post`` → ``blocks.1.resid.post``,
    ``blocks.0.mlp.hook_post`` → ``blocks.0.mlp.post``, ``blocks.0.hook_attn_out`` → ``blocks.0.attn.out``);
    any other name is returned as is (our own folders record the site itself)."""
    m = re.fullmatch(r"blocks\.(\d+)\.(?:(\w+)\.)?hook_(\w+)", hook_name)
    if m is None:
        return hook_name
    block, module, point = m.groups()
    return ".".join(["blocks", block, *([module] if module else []), *point.split("_")])


def _hook_name(cfg: dict[str, Any]) -> str | None:
    """The hook the SAE was trained on, from SAELens ≥ 6 (``metadata``), older SAELens (top level) or ours."""
    for block in (cfg.get("metadata"), cfg, cfg.get("meta")):
        if isinstance(block, dict) and block.get("hook_name"):
            return str(block["hook_name"])
    return None


def load_sae_folder(path: Path | str, model: str, site: str, name: str | None = None) -> SparseAutoencoder:
    """Read an SAE folder in SAELens' format (ours or SAELens'): ``cfg.json`` + ``sae_weights.safetensors``."""
    from safetensors.torch import load_file

    path = Path(path)
    try:
        cfg = json.loads((path / CONFIG).read_text())
        tensors = {k: v.float().numpy() for k, v in load_file(str(path / WEIGHTS)).items()}
    except FileNotFoundError as e:
        raise UserError(f"{path} is not an SAE folder: {Path(str(e.filename)).name} is missing") from None
    except (OSError, ValueError) as e:  # ValueError: bad JSON or safetensors header
        raise UserError(f"{path}: cannot read the SAE ({e})") from None
    apply_b = _check_cfg(cfg, str(path))
    missing = [k for k in ("W_enc", "b_enc", "W_dec", "b_dec") if k not in tensors]
    if missing:
        raise UserError(f"{path}/{WEIGHTS} lacks {', '.join(missing)}")
    w_dec = tensors["W_dec"]
    if "scaling_factor" in tensors:  # older SAELens: features scaled before decoding
        w_dec = w_dec * tensors["scaling_factor"].reshape(-1, 1)
    ours = cfg.get("mirrorneuron", {})
    return SparseAutoencoder(
        name or ours.get("name") or path.name, model, site, tensors["W_enc"], tensors["b_enc"], w_dec,
        tensors["b_dec"], apply_b, ours.get("metrics", {}), ours.get("source", f"SAELens folder {path}"),
        _hook_name(cfg),
    )  # fmt: skip


def from_saelens(sae: Any, model: str, site: str, name: str) -> SparseAutoencoder:
    """A ``sae_lens.SAE`` object (or anything with W_enc, b_enc, W_dec, b_dec and a SAELens-like ``cfg``)."""

    def arr(t: Any) -> np.ndarray:
        return np.asarray(t.detach().float().cpu().numpy() if hasattr(t, "detach") else t, dtype=np.float64)

    missing = [k for k in ("W_enc", "b_enc", "W_dec", "b_dec") if not hasattr(sae, k)]
    if missing:
        raise UserError(f"{type(sae).__name__} is not an SAE: it lacks {', '.join(missing)}")
    c = getattr(sae, "cfg", None)
    arch = getattr(c, "architecture", "standard")
    cfg = {
        "architecture": arch() if callable(arch) else arch,
        "apply_b_dec_to_input": getattr(c, "apply_b_dec_to_input", True),
        "normalize_activations": getattr(c, "normalize_activations", "none"),
    }
    apply_b = _check_cfg(cfg, f"SAE object {type(sae).__name__}")
    w_enc, b_enc, w_dec, b_dec = (arr(getattr(sae, k)) for k in ("W_enc", "b_enc", "W_dec", "b_dec"))
    hook = getattr(getattr(c, "metadata", None), "hook_name", None) or getattr(c, "hook_name", None)
    return SparseAutoencoder(
        name, model, site, w_enc, b_enc, w_dec, b_dec, apply_b, source="sae_lens.SAE object",
        hook_name=hook if isinstance(hook, str) else None,
    )  # fmt: skip


def load_sae(model: str, site: str, name: str) -> SparseAutoencoder:
    folder = kind_dir(model, site, "sae") / name
    if not (folder / CONFIG).exists():
        saved = [p.name for p in sae_dirs(model, site)]
        hint = f"saved at {site}: {', '.join(saved)}" if saved else f"none saved at {site}"
        raise UserError(f"no SAE {name!r} for {model} at {site} ({hint}); train one with `mirrorneuron sae train`")
    return load_sae_folder(folder, model, site, name)


def list_saes(model: str) -> list[dict[str, Any]]:
    """Name, site, width and quality figures of every saved SAE of ``model``."""
    out = []
    for folder in sae_dirs(model):
        cfg = json.loads((folder / CONFIG).read_text())
        ours = cfg.get("mirrorneuron", {})
        out.append({"name": folder.name, "site": folder.parent.parent.name, "d_sae": cfg.get("d_sae"), **ours})
    return out


def sae_feature_context(h: Harvest, adapter: TorchAdapter, ref: UnitRef) -> ReadoutContext:
    """Game context of an SAE feature; its same-kind neighbours are the SAE's most similar features."""
    name, _, j = ref.key.rpartition(":")
    sae = load_sae(ref.model, ref.site, name)
    readout = sae.feature(int(j))  # out of range → UserError
    siblings = [
        Readout(sae.feature(k).ref, sae.W_enc[:, k], float(sae.b_enc[k]), sae._shift, "relu", "b_dec",
                f"{name}:{k} (cos={c:+.2f})")
        for k, c in sae.similar(int(j))
    ]  # fmt: skip
    return ReadoutContext(h, adapter, readout, siblings)
