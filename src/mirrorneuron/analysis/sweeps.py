"""Bot imitability per training-knob value of a sweep, next to the models' capability.

Input: one row per (model, unit, level, bot) with that unit's pooled correlation over its held-out rounds
(DESIGN §6), and the sweep manifest (each model's knob values and attributes). A knob value's imitability is
the mean of those per-unit correlations over every unit of every model with that value, with a 95 % normal
interval (1.96 · sd / √n). Units are not pooled into one correlation: across units that would reward a bot
for knowing each unit's mean. Level ``all`` pools levels 0–3. With ``by="models"`` (for every unit of each
model, where units of one model are far from independent) it is the mean of the models' mean correlations,
with a 95 % Student-t interval over the models.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import t as student_t

CAPABILITY = ("val_loss", "unigram_val_loss", "val_accuracy")


def _interval(x: np.ndarray, t: bool = False) -> tuple[float, float, float]:
    mean = float(x.mean())
    z = float(student_t.ppf(0.975, x.size - 1)) if t and x.size > 1 else 1.96
    half = z * float(x.std(ddof=1)) / math.sqrt(x.size) if x.size > 1 else math.nan
    return mean, mean - half, mean + half


def _mean(values: list[Any]) -> float | None:
    got = [float(v) for v in values if v is not None]
    return float(np.mean(got)) if got else None


def imitability_by_knob(
    plays: Sequence[dict[str, Any]], manifest: dict[str, Any], by: str = "units"
) -> list[dict[str, Any]]:
    """One row per knob × value × bot × level (and level ``all``): models, units, mean correlation with its
    interval (over units, or with ``by="models"`` over the models' means), and the mean capability figures of
    the models with that value."""
    if by not in ("units", "models"):
        raise ValueError(f"by must be 'units' or 'models', got {by!r}")
    models = {m["name"]: m for m in manifest["models"]}
    knobs = [*list(manifest["spec"]["grid"]), "seed"]
    out: list[dict[str, Any]] = []
    for knob in knobs:
        values = list(dict.fromkeys(_knob_value(m, knob) for m in models.values()))
        for value in values:
            names = {n for n, m in models.items() if _knob_value(m, knob) == value}
            capability = {c: _mean([models[n]["attributes"].get(c) for n in names]) for c in CAPABILITY}
            rows = [p for p in plays if p["model"] in names]
            for bot in dict.fromkeys(p["bot"] for p in rows):
                for level in [*sorted({p["level"] for p in rows}), "all"]:
                    sel = [p for p in rows if p["bot"] == bot and (level == "all" or p["level"] == level)]
                    if not sel:
                        continue
                    corr = np.array([p["correlation"] for p in sel], dtype=np.float64)
                    of = np.array([p["model"] for p in sel])
                    ok = np.isfinite(corr)  # a finder's NaN: a unit it could not score (constant values)
                    corr, of = corr[ok], of[ok]
                    if not corr.size:
                        continue
                    n_units = corr.size
                    if by == "models":
                        corr = np.array([corr[of == m].mean() for m in dict.fromkeys(of.tolist())])
                    mean, lo, hi = _interval(corr, t=by == "models")
                    out.append(
                        {
                            "knob": knob,
                            "value": value,
                            "bot": bot,
                            "level": level,
                            "models": len(set(of.tolist())),
                            "units": n_units,
                            "correlation": mean,
                            "ci_low": lo,
                            "ci_high": hi,
                            **capability,
                        }
                    )
    return out


def _knob_value(model: dict[str, Any], knob: str) -> Any:
    return model["seed"] if knob == "seed" else model["knobs"][knob]


def write_csv(rows: Sequence[dict[str, Any]], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else ["empty"])
        writer.writeheader()
        writer.writerows(rows)


def plot_imitability(rows: Sequence[dict[str, Any]], path: Path) -> None:
    """One panel per knob: each bot's mean correlation (levels pooled, 95 % interval) by value, and the
    models' validation loss against the unigram baseline on a second axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pooled = [r for r in rows if r["level"] == "all"]
    knobs = list(dict.fromkeys(r["knob"] for r in pooled))
    fig, axes = plt.subplots(1, max(1, len(knobs)), figsize=(4.2 * max(1, len(knobs)), 3.6), squeeze=False)
    for ax, knob in zip(axes[0], knobs, strict=False):
        sel = [r for r in pooled if r["knob"] == knob]
        values = list(dict.fromkeys(str(r["value"]) for r in sel))
        x = np.arange(len(values))
        for bot in dict.fromkeys(r["bot"] for r in sel):
            br = {str(r["value"]): r for r in sel if r["bot"] == bot}
            y = np.array([br[v]["correlation"] if v in br else np.nan for v in values])
            err = np.array(
                [[y[i] - br[v]["ci_low"], br[v]["ci_high"] - y[i]] if v in br else [0, 0] for i, v in enumerate(values)]
            ).T
            ax.errorbar(x, y, yerr=np.nan_to_num(err), marker="o", capsize=3, label=bot)
        ax.set_xticks(x, values, rotation=20)
        ax.set_title(knob)
        ax.set_ylabel("bot imitability (mean correlation)")
        cap = {str(r["value"]): r for r in sel}
        twin = ax.twinx()
        for col, style in (("val_loss", "k--"), ("unigram_val_loss", "k:")):
            ys = [cap[v][col] if cap[v][col] is not None else np.nan for v in values]
            twin.plot(x, ys, style, label=col, alpha=0.6)
        twin.set_ylabel("validation loss (-- model, : unigram)")
    axes[0][0].legend(fontsize=7, loc="best")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
