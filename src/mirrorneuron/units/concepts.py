"""Concepts: a labeler (+ an optional ``=VALUE``) applied to harvested examples, giving probe targets.

``resolve_concept("prev_token=the", "text")`` finds the built-in ``prev_token`` labeler and makes it binary;
``--labeler module:function`` / ``file.py:function`` and ``--csv FILE`` bring the user's own labels.
"""

from __future__ import annotations

import csv
import importlib
import importlib.util
import math
from collections import Counter
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import numpy as np

from mirrorneuron.harvest.cache import Harvest
from mirrorneuron.types import Modality, UserError
from mirrorneuron.units.labelers import Labeler, lookup, per_position

Task = Literal["binary", "numeric"]
_TRUE, _FALSE = {"true", "1", "yes"}, {"false", "0", "no"}


@dataclass
class LabelData:
    """What labelers read: the harvest's inputs, the token strings (text) and digit classes (images)."""

    harvest: Harvest
    vocab: np.ndarray | None = None  # token string of every id (text models)

    @property
    def modality(self) -> Modality:
        return "image" if self.harvest.manifest["modality"] == "image" else "text"

    def tokens(self, window: int) -> list[str]:
        assert self.vocab is not None
        return list(self.vocab[self.harvest.inputs[window]])

    @cached_property
    def classes(self) -> np.ndarray:
        from mirrorneuron.corpus import load_digits

        d = load_digits()
        if self.harvest.manifest["corpus"]["id"] != d.id or self.harvest.n_windows != len(d.labels):
            raise UserError("image concepts need a harvest of the bundled digits (all 1,797 images)")
        return d.labels


def canon(x: Any) -> str:
    """A label as comparable text: booleans → true/false, integral numbers without '.0'."""
    if isinstance(x, bool | np.bool_):
        return "true" if x else "false"
    if isinstance(x, int | np.integer):
        return str(int(x))
    if isinstance(x, float | np.floating) and float(x).is_integer():
        return str(int(x))
    s = str(x)
    return s.lower() if s.lower() in ("true", "false") else s


def raw_labels(lab: Labeler, data: LabelData, examples: np.ndarray) -> np.ndarray:
    """The labeler's raw label (object; None = unknown) for each example index."""
    h = data.harvest
    if lab.modality not in ("any", data.modality):
        raise UserError(f"concept {lab.name!r} is for {lab.modality} models; this model takes {data.modality}")
    if lab.table is not None:
        return np.array([lab.table.get(int(e)) for e in examples], dtype=object)
    windows, positions = np.divmod(examples, h.positions)
    if lab.image_fn is not None:
        classes = data.classes
        return np.array([lab.image_fn(h.inputs[w], int(classes[w])) for w in windows], dtype=object)
    assert lab.windows_fn is not None
    uniq, inverse = np.unique(windows, return_inverse=True)
    per_window = lab.windows_fn([data.tokens(int(w)) for w in uniq])
    out = np.empty(len(examples), dtype=object)
    for i, (j, p) in enumerate(zip(inverse, positions, strict=True)):
        out[i] = per_window[j][p]
    return out


def _known(x: Any) -> bool:
    return x is not None and not (isinstance(x, float | np.floating) and math.isnan(x))


@dataclass(frozen=True)
class Concept:
    """``labeler`` as a probe target; with ``value`` it is binary: label == value."""

    name: str
    labeler: Labeler
    value: str | None = None

    def raw(self, data: LabelData, examples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(labels as canonical strings, known mask)."""
        raw = raw_labels(self.labeler, data, examples)
        mask = np.array([_known(x) for x in raw], dtype=bool)
        return np.array([canon(x) if m else "" for x, m in zip(raw, mask, strict=True)], dtype=object), mask

    def targets(self, data: LabelData, examples: np.ndarray) -> tuple[np.ndarray, np.ndarray, Task]:
        """(float targets, known mask, task) for the examples; UserError when the labels cannot be a target."""
        labels, mask = self.raw(data, examples)
        seen = labels[mask]
        if not seen.size:
            raise UserError(f"concept {self.name!r} labels none of the {len(examples)} examples")
        common = ", ".join(f"{v} ({n})" for v, n in Counter(seen.tolist()).most_common(8))
        if self.value is not None:
            want = canon(self.value)
            y = (labels == want).astype(np.float64)
            if not y[mask].any():
                raise UserError(f"no example has {self.labeler.name}={self.value}; common values: {common}")
            return y, mask, "binary"
        kind = self.labeler.kind
        values = set(seen.tolist())
        if kind == "binary" or (kind == "auto" and values <= _TRUE | _FALSE):
            return np.array([s in _TRUE for s in labels], dtype=np.float64), mask, "binary"
        if kind in ("numeric", "auto"):
            try:
                return np.array([float(s) if m else 0.0 for s, m in zip(labels, mask, strict=True)]), mask, "numeric"
            except ValueError:
                pass
        raise UserError(
            f"concept {self.name!r} is categorical: pick a value, e.g. {self.labeler.name}={seen[0]} "
            f"(common values: {common})"
        )


def load_function(spec: str) -> Any:
    """``package.module:function`` or ``path/to/file.py:function`` → the function."""
    mod_name, sep, fn_name = spec.rpartition(":")
    if not sep or not mod_name or not fn_name:
        raise UserError(f"bad labeler {spec!r}: expected module:function or file.py:function")
    try:
        if mod_name.endswith(".py"):
            path = Path(mod_name)
            if not path.exists():
                raise UserError(f"labeler file {path} not found")
            mspec = importlib.util.spec_from_file_location(f"_mn_labeler_{path.stem}", path)
            assert mspec is not None and mspec.loader is not None
            module = importlib.util.module_from_spec(mspec)
            mspec.loader.exec_module(module)
        else:
            module = importlib.import_module(mod_name)
    except UserError:
        raise
    except Exception as e:  # the user's code may raise anything while importing
        raise UserError(f"cannot import labeler module {mod_name!r}: {type(e).__name__}: {e}") from None
    fn = getattr(module, fn_name, None)
    if not callable(fn):
        raise UserError(f"labeler module {mod_name!r} has no function {fn_name!r}")
    return fn


def csv_labeler(path: Path | str, name: str, n_examples: int) -> Labeler:
    """Labels from a CSV of ``example,label`` rows (example = harvest example index; a header row is optional)."""
    path = Path(path)
    try:
        rows = list(csv.reader(path.read_text(encoding="utf-8").splitlines()))
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"cannot read label CSV {path}: {e}") from None
    rows = [r for r in rows if any(c.strip() for c in r)]
    if rows and not rows[0][0].strip().lstrip("-").isdigit():
        rows = rows[1:]  # header
    if not rows:
        raise UserError(f"label CSV {path} has no rows; expected lines like `example,label` (e.g. `17,true`)")
    table: dict[int, Any] = {}
    for line, row in enumerate(rows, start=1):
        if len(row) < 2 or not row[0].strip().isdigit():
            raise UserError(f"label CSV {path}, row {line}: expected `example_index,label`, got {','.join(row)!r}")
        ex = int(row[0])
        if ex >= n_examples:
            raise UserError(f"label CSV {path}, row {line}: example {ex} is out of range (0..{n_examples - 1})")
        if ex in table:
            raise UserError(f"label CSV {path}, row {line}: example {ex} is labelled twice")
        table[ex] = row[1].strip() or None
    return Labeler(name, "any", "auto", f"labels from {path.name}", table=table)


def resolve_concept(
    concept: str,
    modality: Modality,
    labeler: str | None = None,
    csv_path: Path | str | None = None,
    n_examples: int = 0,
) -> Concept:
    """The concept called ``concept`` (``NAME`` or ``NAME=VALUE``), from the registry, a user function or a CSV."""
    name, sep, value = concept.strip().partition("=")
    if not name or (sep and not value):
        raise UserError(f"bad concept {concept!r}: expected NAME or NAME=VALUE, e.g. capitalised or prev_token=the")
    if labeler and csv_path:
        raise UserError("give either --labeler or --csv, not both")
    if csv_path:
        lab = csv_labeler(csv_path, name, n_examples)
    elif labeler and ":" in labeler:
        fn = load_function(labeler)
        if modality == "image":
            lab = Labeler(name, "image", "auto", labeler, image_fn=_guarded(fn, labeler))
        else:
            lab = Labeler(name, "text", "auto", labeler, windows_fn=_guarded(per_position(fn), labeler))
    else:
        if labeler:
            load_module(labeler)  # its @labeler decorators register concepts
        lab = lookup(name, modality)
    return Concept(concept.strip(), lab, value if sep else None)


def _guarded(fn: Any, spec: str) -> Any:
    """``fn`` with any exception from the user's code turned into a one-line UserError."""

    def run(*args: Any) -> Any:
        try:
            return fn(*args)
        except Exception as e:
            raise UserError(f"labeler {spec} failed: {type(e).__name__}: {e}") from None

    return run


def load_module(name: str) -> None:
    try:
        importlib.import_module(name)
    except Exception as e:
        raise UserError(f"cannot import labeler module {name!r}: {type(e).__name__}: {e}") from None
