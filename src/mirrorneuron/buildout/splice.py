"""Splicing: run the net with chosen units' activations replaced by predictions, and measure what it keeps.

A :class:`Splicer` holds one model and one evaluation slice (:class:`Task`). It measures the model three ways
on that slice: clean, with the chosen units ablated (zero, or their harvest mean), and with them replaced by
predictors (a rule, a bot, an SAE reconstruction, …). The fraction kept is the SAELens CE-loss score:

    recovered = (M_ablate − M_splice) / (M_ablate − M_clean)

for the loss (``loss_recovered``) and, for classifiers, for the accuracy too (``accuracy_kept``; the same
formula, since (A_ablate − A_splice)/(A_ablate − A_clean) = (A_splice − A_ablate)/(A_clean − A_ablate)). 1 means
the replacement keeps everything the units do, 0 means no better than ablation; it can be below 0 or above 1.
When ablating changes nothing (|M_ablate − M_clean| ≈ 0) the fraction is None with a reason.

The loss depends on the task: next-token cross-entropy (``lm``), class cross-entropy (``classifier``), or,
for a model whose output is neither (the planted model), the mean squared deviation of its output from the
clean output (``output``; ``M_clean`` = 0, like SAELens' KL-divergence score).

Predictors run on the clean inputs (each unit is predicted from the input alone), then every chosen unit of
every site is written at once in one patched forward pass.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

from mirrorneuron.models.adapter import Patch, TorchAdapter
from mirrorneuron.types import UnitRef, UserError

Predictor = Callable[[np.ndarray], np.ndarray]  # inputs [N, …] -> the unit's values [N, P]
TaskKind = Literal["lm", "classifier", "output"]
Ablation = Literal["zero", "mean"]
ABLATIONS: tuple[Ablation, ...] = ("zero", "mean")
RELATIVE_EPS = 1e-6  # |M_ablate − M_clean| below this (relative to max(1, |M_clean|)): nothing to recover


@dataclass(frozen=True, order=True)
class SpliceUnit:
    """One neuron to replace: ``site`` and the unit's ``index`` there."""

    site: str
    index: int

    @classmethod
    def of(cls, ref: UnitRef) -> SpliceUnit:
        if ref.kind != "neuron":
            raise UserError(f"unit {ref.id}: only neurons can be spliced (not {ref.kind}s)")
        return cls(ref.site, ref.index)

    def __str__(self) -> str:
        return f"{self.site}/{self.index}"


@dataclass(frozen=True, eq=False)
class Task:
    """The evaluation slice: ``inputs`` (token windows [N, T] or images), ``labels`` [N] for classifiers, and
    ``slice`` saying in words which inputs these are (shown with every result)."""

    kind: TaskKind
    inputs: np.ndarray
    labels: np.ndarray | None = None
    slice: str = ""

    def __post_init__(self) -> None:
        if len(self.inputs) == 0:
            raise UserError("the evaluation slice is empty")
        if self.kind == "classifier" and (self.labels is None or len(self.labels) != len(self.inputs)):
            raise ValueError("a classifier task needs one label per input")


@dataclass(frozen=True)
class Fraction:
    value: float | None
    reason: str | None = None


@dataclass(frozen=True)
class SpliceResult:
    """Clean / ablated / spliced values of each measure (``loss``; ``accuracy`` for classifiers) and the
    fraction of each that the replacement recovered."""

    units: tuple[SpliceUnit, ...]
    ablation: Ablation
    clean: dict[str, float]
    ablated: dict[str, float]
    spliced: dict[str, float]
    recovered: dict[str, Fraction] = field(default_factory=dict)

    @property
    def loss_recovered(self) -> float | None:
        return self.recovered["loss"].value

    @property
    def accuracy_kept(self) -> float | None:
        f = self.recovered.get("accuracy")
        return None if f is None else f.value

    def to_json(self) -> dict[str, object]:
        return {
            "units": [str(u) for u in self.units],
            "ablation": self.ablation,
            "clean": self.clean,
            "ablated": self.ablated,
            "spliced": self.spliced,
            "loss_recovered": self.loss_recovered,
            "accuracy_kept": self.accuracy_kept,
            "reasons": {k: f.reason for k, f in self.recovered.items() if f.reason},
        }


def fraction_recovered(clean: float, ablated: float, spliced: float, what: str = "loss") -> Fraction:
    """``(ablated − spliced) / (ablated − clean)``, or None with a reason when ablation changes nothing."""
    gap = ablated - clean
    if not np.isfinite(gap) or abs(gap) <= RELATIVE_EPS * max(1.0, abs(clean)):
        return Fraction(None, f"ablating these units does not change the {what} ({clean:.6g} → {ablated:.6g})")
    return Fraction(float((ablated - spliced) / gap) + 0.0)  # + 0.0: no "-0.0" when spliced = ablated


def positions(adapter: TorchAdapter, site: str, inputs: np.ndarray) -> int:
    """How many positions ``site`` has per input (tokens of a window; 1 for an image)."""
    return int(adapter.run(adapter.to_tensor(inputs[:1]), [site])[site].shape[1])


def _patches(values: Mapping[SpliceUnit, torch.Tensor]) -> dict[str, Patch]:
    by_site: dict[str, list[tuple[int, torch.Tensor]]] = defaultdict(list)
    for unit, v in values.items():
        by_site[unit.site].append((unit.index, v))

    def patch(items: list[tuple[int, torch.Tensor]]) -> Patch:
        def fn(a: torch.Tensor) -> torch.Tensor:  # a: [B, P, U]
            a = a.clone()
            for index, v in items:
                a[..., index] = v.to(a.dtype)
            return a

        return fn

    return {site: patch(items) for site, items in by_site.items()}


class Splicer:
    """One model on one slice; clean and ablated measures are computed once and reused across candidates."""

    def __init__(self, adapter: TorchAdapter, task: Task, batch_size: int = 64) -> None:
        if batch_size < 1:
            raise UserError("batch size must be at least 1")
        self.adapter, self.task, self.batch_size = adapter, task, batch_size
        self._clean_outputs: list[torch.Tensor] = []
        self._n_positions: dict[str, int] = {}
        self.clean = self.measure({})
        self._ablated: dict[tuple[tuple[SpliceUnit, ...], Ablation, tuple[float, ...]], dict[str, float]] = {}

    def _batches(self) -> Iterator[tuple[int, int]]:
        n = len(self.task.inputs)
        for lo in range(0, n, self.batch_size):
            yield lo, min(lo + self.batch_size, n)

    def _positions(self, unit: SpliceUnit) -> int:
        if unit.site not in self._n_positions:
            self._n_positions[unit.site] = positions(self.adapter, unit.site, self.task.inputs)
        return self._n_positions[unit.site]

    def check(self, unit: SpliceUnit) -> None:
        width = self.adapter.width(unit.site)  # unknown site → UserError
        if not 0 <= unit.index < width:
            raise UserError(f"unit index {unit.index} out of range for {unit.site} (0..{width - 1})")

    @torch.inference_mode()
    def measure(self, values: Mapping[SpliceUnit, np.ndarray]) -> dict[str, float]:
        """The task's measures with ``values[unit]`` [N, P] written into each unit (none: the clean model)."""
        for unit, v in values.items():
            self.check(unit)
            want = (len(self.task.inputs), self._positions(unit))
            if v.shape != want:
                raise ValueError(f"values for {unit} have shape {v.shape}, expected {want}")
        losses, correct, count = [], 0.0, 0
        first_pass = not self._clean_outputs and not values
        for i, (lo, hi) in enumerate(self._batches()):
            x = self.adapter.to_tensor(self.task.inputs[lo:hi])
            patches = _patches({u: torch.from_numpy(np.ascontiguousarray(v[lo:hi])) for u, v in values.items()})
            with self.adapter.patched(patches):
                out = self.adapter.module(x)
            if not isinstance(out, torch.Tensor):
                raise UserError(f"model {self.adapter.name}'s forward does not return a tensor; it cannot be spliced")
            out = out.float()
            if self.task.kind == "output" and first_pass:
                self._clean_outputs.append(out)
            loss, hits = self._score(out, x, lo, hi, i)
            losses.append(loss * (hi - lo))
            correct, count = correct + hits, count + (hi - lo)
        result = {"loss": float(sum(losses) / count)}
        if self.task.kind == "classifier":
            result["accuracy"] = correct / count
        return result

    def _score(self, out: torch.Tensor, x: torch.Tensor, lo: int, hi: int, batch: int) -> tuple[float, float]:
        """(mean loss of the batch, number of correct classifications)."""
        kind = self.task.kind
        if kind == "lm":
            logits = out[:, :-1]  # predict token t+1 from positions ≤ t
            return float(F.cross_entropy(logits.reshape(-1, logits.shape[-1]), x[:, 1:].reshape(-1))), 0.0
        if kind == "output":
            return float(((out - self._clean_outputs[batch]) ** 2).mean()), 0.0
        assert self.task.labels is not None
        y = torch.from_numpy(np.asarray(self.task.labels[lo:hi], dtype=np.int64))
        if out.ndim == 3:  # per-position class logits (textcls): loss over every position, accuracy at the last
            loss = F.cross_entropy(out.reshape(-1, out.shape[-1]), y.repeat_interleave(out.shape[1]))
            return float(loss), float((out[:, -1].argmax(-1) == y).sum())
        return float(F.cross_entropy(out, y)), float((out.argmax(-1) == y).sum())

    def predict(self, predictors: Mapping[SpliceUnit, Predictor]) -> dict[SpliceUnit, np.ndarray]:
        """Each predictor's values [N, P] on the slice's inputs (float32; shape checked)."""
        out = {}
        for unit, predictor in predictors.items():
            self.check(unit)
            want = (len(self.task.inputs), self._positions(unit))
            v = np.asarray(predictor(self.task.inputs), dtype=np.float32)
            v = v.reshape(want) if v.size == want[0] * want[1] else v
            if v.shape != want:
                raise UserError(f"the replacement for {unit} gave values of shape {v.shape}, expected {want}")
            if not np.all(np.isfinite(v)):
                raise UserError(f"the replacement for {unit} gave non-finite values")
            out[unit] = v
        return out

    def ablation_values(
        self, units: Sequence[SpliceUnit], ablation: Ablation, means: Mapping[SpliceUnit, float] | None = None
    ) -> dict[SpliceUnit, np.ndarray]:
        if ablation not in ABLATIONS:
            raise UserError(f"unknown ablation {ablation!r}; choose one of {', '.join(ABLATIONS)}")
        if ablation == "mean" and (means is None or any(u not in means for u in units)):
            raise UserError("mean ablation needs every unit's mean (from its harvest)")
        n = len(self.task.inputs)
        fill = {u: 0.0 if ablation == "zero" else float(means[u]) for u in units}  # type: ignore[index]
        return {u: np.full((n, self._positions(u)), fill[u], dtype=np.float32) for u in units}

    def ablated(
        self, units: Sequence[SpliceUnit], ablation: Ablation = "zero", means: Mapping[SpliceUnit, float] | None = None
    ) -> dict[str, float]:
        fills = tuple(float(means[u]) for u in sorted(units)) if ablation == "mean" and means else ()
        key = (tuple(sorted(units)), ablation, fills)
        if key not in self._ablated:
            self._ablated[key] = self.measure(self.ablation_values(units, ablation, means))
        return self._ablated[key]

    def splice(
        self,
        predictors: Mapping[SpliceUnit, Predictor],
        ablation: Ablation = "zero",
        means: Mapping[SpliceUnit, float] | None = None,
    ) -> SpliceResult:
        """Replace every unit of ``predictors`` at once; clean / ablated / spliced measures and the fractions."""
        if not predictors:
            raise UserError("choose at least one unit to splice")
        units = tuple(sorted(predictors))
        ablated = self.ablated(units, ablation, means)
        spliced = self.measure(self.predict(predictors))
        recovered = {k: fraction_recovered(self.clean[k], ablated[k], spliced[k], k) for k in self.clean}
        return SpliceResult(units, ablation, dict(self.clean), ablated, spliced, recovered)


def recovery_curve(
    splicer: Splicer,
    ordered_units: Sequence[SpliceUnit],
    predictors: Mapping[SpliceUnit, Predictor],
    ablation: Ablation = "zero",
    means: Mapping[SpliceUnit, float] | None = None,
) -> list[dict[str, object]]:
    """Loss recovered after replacing the first 1, 2, … of ``ordered_units`` (ablating the same prefix): one
    plain row per step (``n_units``, ``unit`` added, ``loss_recovered``, ``accuracy_kept``, the measures)."""
    missing = [str(u) for u in ordered_units if u not in predictors]
    if missing:
        raise UserError(f"no predictor for unit(s) {', '.join(missing)}")
    rows: list[dict[str, object]] = []
    for k in range(1, len(ordered_units) + 1):
        prefix = ordered_units[:k]
        r = splicer.splice({u: predictors[u] for u in prefix}, ablation, means)
        rows.append({"n_units": k, "unit": str(prefix[-1])} | r.to_json())
    return rows
