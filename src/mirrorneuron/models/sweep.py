"""Training-parameter sweeps: a base zoo config × a grid of knobs × seeds, trained into the user's zoo.

A sweep file (YAML)::

    name: acts
    base: {task: lm, corpus: austen, transformer: {vocab_size: 1024, d_model: 64}, steps: 600}
    grid: {transformer.act_fn: [relu, gelu, solu_ln], l1: [0.0, 0.0003]}
    seeds: [0, 1]

expands to one named config per grid cell and seed (``acts-act_fn_gelu-l1_0.0003-s1``). :func:`run_sweep`
trains each into ``$MIRRORNEURON_HOME/zoo/NAME`` and skips a model whose finished checkpoint (weights, metrics
and the same config) is there; the trainer writes a checkpoint into a temporary folder and renames it, so a
run killed at any moment resumes where it stopped. The sweep manifest (``$MIRRORNEURON_HOME/sweeps/NAME/
manifest.json``) lists the models with their knob values and :func:`attributes`.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from mirrorneuron import safe_yaml
from mirrorneuron.config import settings
from mirrorneuron.models.train import train
from mirrorneuron.models.zoo import ZooConfig, read_config, read_metrics
from mirrorneuron.types import UserError

NOT_KNOBS = ("name", "description", "seed")  # the name is made from the knobs; seeds have their own list
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class SweepSpec(BaseModel):
    """A sweep: ``base`` (a zoo config without its name) varied over every combination of ``grid`` × ``seeds``."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="sweep name; prefixes every model name")
    description: str = ""
    base: dict[str, Any] = Field(description="zoo config fields shared by every model (no name, no seed)")
    grid: dict[str, list[Any]] = Field(default_factory=dict, description="knob (dotted for nested) → values")
    seeds: list[int] = Field(default=[0], min_length=1)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError(f"bad sweep name {v!r}: letters, digits, '.', '_' and '-' only")
        return v

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, v: list[int]) -> list[int]:
        if len(set(v)) != len(v):
            raise ValueError("seeds must be distinct")
        return v

    @field_validator("grid")
    @classmethod
    def _grid(cls, v: dict[str, list[Any]]) -> dict[str, list[Any]]:
        for knob, values in v.items():
            check_knob(knob)
            if not values:
                raise ValueError(f"knob {knob!r} has no values")
            if len({json.dumps(x, sort_keys=True) for x in values}) != len(values):
                raise ValueError(f"knob {knob!r} repeats a value")
        return v

    @field_validator("base")
    @classmethod
    def _base(cls, v: dict[str, Any]) -> dict[str, Any]:
        for key in ("name", "seed"):
            if key in v:
                raise ValueError(f"base must not set {key!r} (names come from the knobs, seeds from `seeds:`)")
        return v


def check_knob(knob: str) -> None:
    """ValueError unless ``knob`` (``l1``, ``transformer.act_fn``) names a zoo config field."""
    head, *rest = knob.split(".")
    if head in NOT_KNOBS:
        raise ValueError(f"{head!r} is not a knob" + (" (use `seeds:`)" if head == "seed" else ""))
    fields = ZooConfig.model_fields
    if head not in fields:
        raise ValueError(
            f"unknown knob {knob!r}; zoo config fields: {', '.join(f for f in fields if f not in NOT_KNOBS)}"
        )
    if not rest:
        return
    nested = ZooConfig.model_fields[head].annotation
    sub = next(
        (t for t in getattr(nested, "__args__", (nested,)) if isinstance(t, type) and issubclass(t, BaseModel)), None
    )
    if sub is None or len(rest) > 1 or rest[0] not in sub.model_fields:
        known = ", ".join(f"{head}.{f}" for f in sub.model_fields) if sub is not None else "none"
        raise ValueError(f"unknown knob {knob!r}; {head} fields: {known}")


def load_spec(path: Path | str) -> SweepSpec:
    """Read a sweep YAML file; any problem is one UserError line."""
    p = Path(path)
    try:
        raw = safe_yaml.load(p.read_text())
    except FileNotFoundError:
        raise UserError(f"sweep file {p} not found") from None
    except UnicodeDecodeError:
        raise UserError(f"{p}: not a text (UTF-8) file") from None
    except yaml.YAMLError as e:
        where = getattr(e, "problem_mark", None)
        at = f" at line {where.line + 1}" if where is not None else ""
        raise UserError(f"{p}: not valid YAML{at}") from None
    if not isinstance(raw, dict):
        raise UserError(f"{p}: a sweep file is a mapping with name, base, grid and seeds")
    try:
        spec = SweepSpec.model_validate(raw)
    except ValidationError as e:
        raise UserError(f"{p}: {_first_error(e)}") from None
    expand(spec)  # every config must validate before anything trains
    return spec


def _first_error(e: ValidationError) -> str:
    err = e.errors()[0]
    loc = ".".join(str(x) for x in err["loc"])
    return f"{loc}: {err['msg']}" if loc else str(err["msg"])


def _fmt(value: Any) -> str:
    text = json.dumps(value, sort_keys=True) if isinstance(value, dict | list) else str(value).lower()
    return re.sub(r"[^A-Za-z0-9.]+", "_", text).strip("_") or "_"


def _labels(knobs: list[str]) -> dict[str, str]:
    """The short label of each knob in model names: its last part, or the whole path where two share it."""
    leaves = [k.split(".")[-1] for k in knobs]
    return {k: leaf if leaves.count(leaf) == 1 else k for k, leaf in zip(knobs, leaves, strict=True)}


def _set(d: dict[str, Any], knob: str, value: Any) -> None:
    *path, leaf = knob.split(".")
    for part in path:
        if d.get(part) is None:
            d[part] = {}
        if not isinstance(d[part], dict):
            raise UserError(f"knob {knob!r}: base.{part} is not a nested config")
        d = d[part]
    d[leaf] = value


@dataclass(frozen=True)
class SweepModel:
    name: str
    knobs: dict[str, Any]  # knob → value in this model (the grid's knobs)
    config: ZooConfig


def expand(spec: SweepSpec) -> list[SweepModel]:
    """Every grid cell × seed, in grid order then seed; names are stable functions of the knob values."""
    knobs = list(spec.grid)
    labels = _labels(knobs)
    out: list[SweepModel] = []
    for values in itertools.product(*(spec.grid[k] for k in knobs)):
        cell = dict(zip(knobs, values, strict=True))
        for seed in spec.seeds:
            parts = [f"{labels[k]}_{_fmt(v)}" for k, v in cell.items()]
            name = "-".join([spec.name, *parts, f"s{seed}"])
            raw = json.loads(json.dumps(spec.base))
            for k, v in cell.items():
                _set(raw, k, v)
            raw |= {"name": name, "seed": seed}
            try:
                cfg = ZooConfig.model_validate(raw)
            except ValidationError as e:
                raise UserError(f"sweep {spec.name}, model {name}: {_first_error(e)}") from None
            out.append(SweepModel(name, cell, cfg))
    names = [m.name for m in out]
    if len(set(names)) != len(names):
        raise UserError(f"sweep {spec.name}: two grid cells give the same model name; make the values distinct")
    return out


def attributes(config: ZooConfig, metrics: dict[str, Any]) -> dict[str, Any]:
    """A model's training knobs and capability, as stored in ``models.attributes`` for analysis to group by."""
    t, v = config.transformer, config.vision
    return {
        "activation": config.activation,
        "arch": "transformer" if t else v.arch if v else None,
        "d_model": t.d_model if t else None,
        "d_mlp": t.d_mlp if t else v.width if v else None,
        "n_layers": t.n_layers if t else v.n_layers if v else None,
        "l1": config.l1,
        "connection_cost": config.connection_cost,
        "weight_decay": config.weight_decay,
        "dropout": t.dropout if t else 0.0,
        "optimizer": config.optimizer,
        "lr": config.lr,
        "steps": config.steps,
        "data": "digits" if config.task == "digits" else config.corpus,
        "task": config.task,
        "seed": config.seed,
        **{k: metrics.get(k) for k in ("val_loss", "val_accuracy", "unigram_val_loss", "params", "train_seconds")},
    }


def is_trained(model: SweepModel, zoo_dir: Path) -> bool:
    """A finished checkpoint of exactly this config: weights, metrics and the same config.json."""
    path = zoo_dir / model.name
    if not (path / "model.safetensors").exists() or not read_metrics(path):
        return False
    try:
        return read_config(path) == model.config
    except UserError:
        return False


@dataclass(frozen=True)
class SweepEvent:
    index: int  # 0-based model index
    total: int  # models in the sweep
    name: str
    status: str  # "training" (with step/steps/loss), "trained", "skipped"
    step: int = 0
    steps: int = 0
    loss: float = float("nan")


def sweep_dir(name: str) -> Path:
    return settings().home / "sweeps" / name


def _write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    tmp.replace(path)


def manifest_entry(model: SweepModel, zoo_dir: Path, status: str) -> dict[str, Any]:
    metrics = read_metrics(zoo_dir / model.name)
    return {
        "name": model.name,
        "knobs": model.knobs,
        "seed": model.config.seed,
        "status": status,
        "attributes": attributes(model.config, metrics),
    }


def run_sweep(spec: SweepSpec, progress: Callable[[SweepEvent], None] | None = None) -> list[dict[str, Any]]:
    """Train every model of ``spec`` not trained yet; returns (and writes, after each model) the manifest rows."""
    zoo_dir = settings().zoo_dir
    models = expand(spec)
    rows: list[dict[str, Any]] = []
    manifest = sweep_dir(spec.name) / "manifest.json"
    emit = progress or (lambda _e: None)
    for i, m in enumerate(models):
        if is_trained(m, zoo_dir):
            status = "skipped"
        else:
            for stale in zoo_dir.glob(f".{m.name}-*"):  # a temporary folder left by a killed run
                shutil.rmtree(stale, ignore_errors=True)
            emit(SweepEvent(i, len(models), m.name, "training", 0, m.config.steps))

            def step(s: int, n: int, loss: float, i: int = i, name: str = m.name) -> None:
                emit(SweepEvent(i, len(models), name, "training", s, n, loss))

            train(m.config, zoo_dir / m.name, step)
            status = "trained"
        rows.append(manifest_entry(m, zoo_dir, status))
        emit(SweepEvent(i, len(models), m.name, status))
        _write_json(manifest, {"sweep": spec.name, "spec": spec.model_dump(), "models": rows})
    return rows


def read_manifest(name: str) -> dict[str, Any]:
    path = sweep_dir(name) / "manifest.json"
    try:
        return dict(json.loads(path.read_text()))
    except FileNotFoundError:
        raise UserError(f"sweep {name!r} has not run yet; run `mirrorneuron zoo sweep SWEEP.yaml` first") from None
    except json.JSONDecodeError:
        raise UserError(f"{path} is corrupt; rerun `mirrorneuron zoo sweep SWEEP.yaml` to rewrite it") from None
