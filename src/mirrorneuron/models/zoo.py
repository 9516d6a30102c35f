"""The model zoo: named training configs → reproducible checkpoints (safetensors + JSON config + metrics).

A checkpoint folder holds ``model.safetensors``, ``config.json`` (the ZooConfig), ``metrics.json`` and, for
language models, ``tokenizer.json``. Checkpoints trained by the user live under ``$MIRRORNEURON_HOME/zoo``;
the default text and image models ship inside the package so ``make play`` needs no training.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from safetensors import SafetensorError
from safetensors.torch import load_file
from tokenizers import Tokenizer
from torch import nn

from mirrorneuron.config import BUILTIN_ZOO, settings
from mirrorneuron.corpus import corpus_parts
from mirrorneuron.models.tokenizer import load_tokenizer
from mirrorneuron.models.transformer import TextClassifier, TinyTransformer, TransformerConfig
from mirrorneuron.models.vision import VisionConfig, build_vision
from mirrorneuron.types import Modality, UserError

MIN_VOCAB = 257  # byte-level BPE: the 256 byte symbols and EOS come before any merge
TASKS = ("lm", "textcls", "digits")  # next-token LM; which corpus of a mixture a text is from; 8×8 digits


class ZooConfig(BaseModel):
    """Everything that determines a trained checkpoint. Same config + same seed → same model (within noise)."""

    model_config = ConfigDict(extra="forbid")

    name: str
    task: Literal["lm", "textcls", "digits"]
    description: str = ""
    corpus: str = "austen"  # text models: built-in corpus name or path; textcls: a mixture like "austen+kjv"
    transformer: TransformerConfig | None = None
    vision: VisionConfig | None = None
    l1: float = 0.0  # L1 penalty on the hidden (neuron) activations
    # BIMT-style wiring cost on the MLP weights (see models.train._ConnectionCost); 0 = off
    connection_cost: float = Field(default=0.0, ge=0.0)
    weight_decay: float = 0.01
    optimizer: Literal["adamw", "sgd"] = "adamw"
    lr: float = 3e-3
    steps: int = 1000
    batch_size: int = 32
    seed: int = 0

    @model_validator(mode="after")
    def _fits_task(self) -> ZooConfig:
        if self.task == "digits" and self.vision is None:
            raise ValueError("task 'digits' needs a vision config")
        if self.task != "digits" and self.transformer is None:
            raise ValueError(f"task {self.task!r} needs a transformer config")
        if self.transformer is not None and self.transformer.vocab_size < MIN_VOCAB:
            raise ValueError(f"transformer.vocab_size must be at least {MIN_VOCAB} (the byte-level tokenizer's base)")
        if self.task == "textcls" and len(self.classes) < 2:
            raise ValueError("task 'textcls' needs a corpus mixture to tell apart, e.g. corpus: austen+kjv")
        if self.connection_cost > 0 and self.vision is not None and self.vision.arch != "mlp":
            raise ValueError(
                "connection_cost applies to MLP layers: the transformer's MLPs or the digits MLP, not a CNN"
            )
        return self

    @property
    def modality(self) -> Modality:
        return "image" if self.task == "digits" else "text"

    @property
    def classes(self) -> list[str]:
        """textcls: the corpora of the mixture, in class order."""
        return corpus_parts(self.corpus) if self.task == "textcls" else []

    def build(self) -> nn.Module:
        if self.task == "lm":
            assert self.transformer is not None
            return TinyTransformer(self.transformer)
        if self.task == "textcls":
            assert self.transformer is not None
            return TextClassifier(self.transformer, self.classes)
        assert self.vision is not None
        return build_vision(self.vision)

    @property
    def activation(self) -> str:
        return self.transformer.act_fn if self.transformer else self.vision.act_fn if self.vision else "?"


def _lm(name: str, act: str = "gelu", description: str = "", **kw: Any) -> ZooConfig:
    shape = {k: kw.pop(k) for k in ("d_model", "n_layers", "d_mlp", "n_heads") if k in kw}
    tcfg = TransformerConfig(vocab_size=2048, n_ctx=64, act_fn=act, **shape)
    return ZooConfig(name=name, task="lm", description=description, transformer=tcfg, steps=4000, batch_size=32, **kw)


def _digits(name: str, arch: str = "mlp", act: str = "relu", description: str = "", **kw: Any) -> ZooConfig:
    vcfg = VisionConfig(arch=arch, act_fn=act, **{k: kw.pop(k) for k in ("width", "n_layers", "channels") if k in kw})
    return ZooConfig(name=name, task="digits", description=description, vision=vcfg, steps=1500, batch_size=64, **kw)


REGISTRY: dict[str, ZooConfig] = {
    c.name: c
    for c in [
        _lm("tiny-gelu", "gelu", "default text model: 2 layers, d_model 64, GELU MLPs"),
        _lm("tiny-relu", "relu", "as tiny-gelu with ReLU MLPs"),
        _lm("tiny-solu", "solu_ln", "as tiny-gelu with SoLU + LayerNorm MLPs (Anthropic's SoLU)"),
        _lm("tiny-gelu-l1", "gelu", "as tiny-gelu with an L1 penalty on MLP activations", l1=3e-4),
        _lm("tiny-gelu-wd", "gelu", "as tiny-gelu with strong weight decay", weight_decay=0.3),
        _lm("tiny-gelu-1l", "gelu", "one layer, d_model 128", n_layers=1, d_model=128, d_mlp=512),
        _lm("tiny-gelu-seed1", "gelu", "as tiny-gelu, another seed", seed=1),
        _digits("digits-mlp", "mlp", "relu", "default image model: MLP 64→64→64→10 on 8×8 digits"),
        _digits("digits-mlp-gelu", "mlp", "gelu", "as digits-mlp with GELU"),
        _digits("digits-mlp-l1", "mlp", "relu", "as digits-mlp with an L1 penalty on hidden activations", l1=1e-3),
        _digits(
            "digits-mlp-sgd",
            "mlp",
            "relu",
            "as digits-mlp trained with SGD + momentum",
            optimizer="sgd",
            lr=0.05,
        ),
        _digits("digits-cnn", "cnn", "relu", "two 3×3 conv layers (8 channels), max-pool, FC 64"),
    ]
}
DEFAULT_TEXT, DEFAULT_IMAGE = "tiny-gelu", "digits-mlp"


def zoo_config(name: str) -> ZooConfig:
    if name in REGISTRY:
        return REGISTRY[name]
    path = checkpoint_dir(name)
    if path is not None:
        return read_config(path)
    raise UserError(f"unknown model {name!r}; `mirrorneuron zoo list` shows the zoo")


def checkpoint_dir(name: str) -> Path | None:
    """Where a trained checkpoint of ``name`` lives: the user's zoo first, then the shipped one."""
    for root in (settings().zoo_dir, BUILTIN_ZOO):
        if (root / name / "model.safetensors").exists():
            return root / name
    return None


def read_config(path: Path) -> ZooConfig:
    try:
        return ZooConfig.model_validate_json((path / "config.json").read_text())
    except FileNotFoundError:
        raise UserError(f"{path}: no config.json — not a mirrorneuron checkpoint") from None
    except ValidationError as e:
        raise UserError(f"{path}/config.json is invalid: {e.errors()[0]['msg']}") from None


def read_metrics(path: Path) -> dict[str, Any]:
    try:
        return dict(json.loads((path / "metrics.json").read_text()))
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


@dataclass
class ZooModel:
    config: ZooConfig
    module: nn.Module
    tokenizer: Tokenizer | None
    metrics: dict[str, Any]
    path: Path
    checksum: str


def load_checkpoint(path: Path) -> ZooModel:
    """Load a checkpoint folder; any missing or corrupt file becomes a one-line UserError."""
    cfg = read_config(path)
    weights = path / "model.safetensors"
    try:
        raw = weights.read_bytes()
        state = load_file(str(weights))
    except FileNotFoundError:
        raise UserError(
            f"{path}: model.safetensors is missing; train it with `mirrorneuron zoo train {cfg.name}`"
        ) from None
    except (SafetensorError, OSError, ValueError) as e:
        raise UserError(
            f"{weights}: corrupt checkpoint ({e}); retrain with `mirrorneuron zoo train {cfg.name}`"
        ) from None
    module = cfg.build()
    try:
        module.load_state_dict(state)
    except RuntimeError as e:
        raise UserError(f"{weights}: weights do not fit the config ({str(e).splitlines()[0]})") from None
    module.eval()
    tok = load_tokenizer(path / "tokenizer.json") if cfg.modality == "text" else None
    return ZooModel(cfg, module, tok, read_metrics(path), path, hashlib.sha256(raw).hexdigest()[:16])


def load_model(name: str) -> ZooModel:
    cfg = zoo_config(name)
    path = checkpoint_dir(name)
    if path is None:
        raise UserError(f"model {name!r} is not trained yet; run `mirrorneuron zoo train {cfg.name}`")
    return load_checkpoint(path)
