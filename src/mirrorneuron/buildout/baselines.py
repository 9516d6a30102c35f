"""Replacement predictors to compare an imitation with, and :func:`compare` (one table on one slice).

- ``zero``: the unit is 0 everywhere (the same as zero ablation: recovers exactly 0 under zero ablation);
- ``mean``: the unit's mean over the harvest (recovers exactly 0 under mean ablation);
- ``ridge``: the ridge bot (:mod:`mirrorneuron.players.ridge`) fitted on what a level-1 player has seen after
  one game — the unit's reference examples and the game's rounds with their revealed values, around the
  training-split mean — then run on any input with the level-1 features (target token and the two before
  it, or the pixels);
- ``sae``: the unit's value after an SAE saved for its site encodes and decodes the site's activations.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from mirrorneuron.buildout.splice import Ablation, Predictor, Splicer, SpliceUnit, positions
from mirrorneuron.game import ImageExample, TextExample, draw_examples
from mirrorneuron.harvest.cache import Harvest
from mirrorneuron.models.adapter import TorchAdapter
from mirrorneuron.players.features import CONTEXT, input_features
from mirrorneuron.players.ridge import BIAS, fit
from mirrorneuron.types import UnitRef, UserError
from mirrorneuron.units.data import vocab_of
from mirrorneuron.units.open import unit_context
from mirrorneuron.units.sae import SparseAutoencoder, load_sae_folder
from mirrorneuron.units.saved import sae_dirs

BASELINES = ("zero", "mean", "ridge", "sae")
RIDGE_ALPHA = 0.1  # the ridge bot's default
RIDGE_ROUNDS = 50  # one game's worth of revealed rounds


def constant_predictor(adapter: TorchAdapter, unit: SpliceUnit, value: float) -> Predictor:
    def predict(inputs: np.ndarray) -> np.ndarray:
        return np.full((len(inputs), positions(adapter, unit.site, inputs)), value, dtype=np.float32)

    return predict


def unit_mean(harvest: Harvest, unit: SpliceUnit) -> float:
    """The unit's mean over every harvested example."""
    return float(harvest.stats(unit.site)["mean"][unit.index])


def ridge_predictor(
    adapter: TorchAdapter, harvest: Harvest, unit: SpliceUnit, rounds: int = RIDGE_ROUNDS, alpha: float = RIDGE_ALPHA
) -> Predictor:
    """The ridge bot as it stands after one level-1 game of ``rounds`` rounds: fitted on the unit's reference
    examples and the ``rounds`` examples that game asks (each revealed after its guess), around the
    training-split mean — exactly what a level-1 player of that game has seen."""
    ctx = unit_context(adapter, harvest, UnitRef(adapter.name, unit.site, "neuron", unit.index))
    try:
        seen = draw_examples(ctx, rounds)
    except ValueError:  # a harvest too small for a whole game: the references alone
        seen = draw_examples(ctx, 0)
    refs = list(seen.references.indices) + [d.index for d in seen.draws]
    base = seen.stats.mean
    model = fit(
        [{BIAS: 1.0, **input_features(ctx.example(i))} for i in refs],
        [float(ctx.values[i]) - base for i in refs],
        alpha,
    )
    vocab = vocab_of(adapter)

    def features(x: np.ndarray, p: int) -> dict[str, float]:
        if vocab is None:
            return {BIAS: 1.0, **input_features(ImageExample(np.clip(x, 0.0, 1.0)))}
        lo = max(0, p - CONTEXT)
        return {BIAS: 1.0, **input_features(TextExample(tuple(vocab[x[lo : p + 1]]), p - lo))}

    def predict(inputs: np.ndarray) -> np.ndarray:
        n_pos = positions(adapter, unit.site, inputs)
        out = np.empty((len(inputs), n_pos), dtype=np.float32)
        for w, x in enumerate(inputs):
            for p in range(n_pos):
                out[w, p] = base + model.predict(features(x, p))
        return out

    return predict


def site_sae(adapter: TorchAdapter, site: str) -> SparseAutoencoder | None:
    """The first SAE saved for ``site`` of the model (by folder name), or None."""
    dirs = sae_dirs(adapter.name, site)
    return load_sae_folder(dirs[0], adapter.name, site) if dirs else None


def sae_predictor(adapter: TorchAdapter, sae: SparseAutoencoder, unit: SpliceUnit, batch_size: int = 64) -> Predictor:
    if sae.d_in != adapter.width(unit.site):
        raise UserError(f"SAE {sae.name} reads {sae.d_in} units, {unit.site} has {adapter.width(unit.site)}")

    def predict(inputs: np.ndarray) -> np.ndarray:
        parts = []
        for lo in range(0, len(inputs), batch_size):
            acts = adapter.activations(inputs[lo : lo + batch_size], unit.site)  # [B, P, U]
            flat = acts.reshape(-1, acts.shape[-1])
            parts.append(sae.decode(sae.encode(flat))[:, unit.index].reshape(acts.shape[:2]))
        return np.concatenate(parts).astype(np.float32)

    return predict


def baseline(name: str, adapter: TorchAdapter, harvest: Harvest, unit: SpliceUnit) -> Predictor:
    """The predictor of baseline ``name`` for ``unit`` (UserError for an unknown name or a missing SAE)."""
    if name == "zero":
        return constant_predictor(adapter, unit, 0.0)
    if name == "mean":
        return constant_predictor(adapter, unit, unit_mean(harvest, unit))
    if name == "ridge":
        return ridge_predictor(adapter, harvest, unit)
    if name == "sae":
        sae = site_sae(adapter, unit.site)
        if sae is None:
            raise UserError(
                f"no SAE saved for {adapter.name} at {unit.site}; train one with "
                f"`mirrorneuron units sae train {adapter.name} {unit.site}`"
            )
        return sae_predictor(adapter, sae, unit)
    raise UserError(f"unknown baseline {name!r}; choose one of {', '.join(BASELINES)}")


def baseline_candidates(
    adapter: TorchAdapter, harvest: Harvest, units: Sequence[SpliceUnit], names: Sequence[str] = BASELINES
) -> tuple[dict[str, dict[SpliceUnit, Predictor]], dict[str, str]]:
    """Each baseline's predictors for every unit, and the baselines left out with why (an SAE missing)."""
    out: dict[str, dict[SpliceUnit, Predictor]] = {}
    skipped: dict[str, str] = {}
    for name in names:
        if name == "sae":
            missing = sorted({u.site for u in units if site_sae(adapter, u.site) is None})
            if missing:
                skipped[name] = f"no SAE saved at {', '.join(missing)}"
                continue
        out[name] = {u: baseline(name, adapter, harvest, u) for u in units}
    return out, skipped


def compare(
    splicer: Splicer,
    candidates: Mapping[str, Mapping[SpliceUnit, Predictor]],
    ablation: Ablation = "zero",
    means: Mapping[SpliceUnit, float] | None = None,
) -> list[dict[str, object]]:
    """One row per candidate (each replacing the same units, on the splicer's slice): its name and result."""
    unit_sets = {tuple(sorted(c)) for c in candidates.values()}
    if len(unit_sets) > 1:
        raise ValueError("every candidate must replace the same units")
    return [
        {"candidate": name} | splicer.splice(preds, ablation, means).to_json() for name, preds in candidates.items()
    ]
