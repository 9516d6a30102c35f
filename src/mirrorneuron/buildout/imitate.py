"""Imitations on any input: a parsed rule as a predictor of its unit, and its score on held-out examples.

Semantics of the references a rule makes: ``unit("ID")`` is the TRUE activation of another unit on the same
input (the model is run); ``imitation("ID")`` is the player's own latest rule for that unit (``resolve``),
evaluated on the same input, so imitations chain upstream → downstream. A rule may not read its own unit with
``unit(…)`` (that is the answer), and a chain of ``imitation(…)`` that comes back to a unit is a cycle; both
are :class:`RuleError` at the offending call.

"Held-out" examples are the ones the game may ask: outside the unit's training windows (which hold every
reference example and everything the unit page shows), drawn exactly as bots' rounds are
(:func:`held_out_draws`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from mirrorneuron.buildout.rules import Rule, RuleError, RuleInputs, evaluate
from mirrorneuron.game import Draws, SamplingPlan, draw_examples, summarize
from mirrorneuron.game.scoring import ScoreSummary
from mirrorneuron.models.adapter import TorchAdapter
from mirrorneuron.types import UnitRef, UserError
from mirrorneuron.units import HarvestedUnit
from mirrorneuron.units.directions import direction_readout
from mirrorneuron.units.probes import probe_readout
from mirrorneuron.units.readout import Readout
from mirrorneuron.units.sae import load_sae

Resolve = Callable[[str], Rule | None]
N_HELD_OUT = 200


def parse_unit_id(unit_id: str) -> tuple[str, str, int]:
    """``(model, site, index)`` of a unit id (``UnitRef.parse``; ``index`` is -1 for named probes/directions)."""
    ref = UnitRef.parse(unit_id)
    return ref.model, ref.site, ref.stored_index


def _readout(ref: UnitRef) -> Readout | None:
    """The read-out of a probe, direction or SAE feature; None for a neuron (a plain index)."""
    if ref.kind == "probe":
        return probe_readout(ref.model, ref.site, ref.key)
    if ref.kind == "direction":
        return direction_readout(ref.model, ref.site, ref.key)
    if ref.kind == "sae_feature":
        name, _, j = ref.key.rpartition(":")
        return load_sae(ref.model, ref.site, name).feature(int(j))
    return None


class _Batch:
    """One batch of inputs: token strings or images, and every site's activations, computed once."""

    def __init__(self, adapter: TorchAdapter, inputs: np.ndarray) -> None:
        self.adapter, self.inputs = adapter, np.asarray(inputs)
        self._acts: dict[str, np.ndarray] = {}
        self._true: dict[str, np.ndarray] = {}
        if adapter.modality == "text":
            if self.inputs.ndim != 2:
                raise UserError(f"text inputs must be token ids of shape (n, T), got shape {self.inputs.shape}")
            strings = np.array(adapter.tokens(self.inputs.reshape(-1).tolist()), dtype=object)
            self.rule_inputs = RuleInputs(tokens=strings.reshape(self.inputs.shape))
        else:
            self.rule_inputs = RuleInputs(pixels=self.inputs.astype(np.float64))

    def true_value(self, unit_id: str) -> np.ndarray:
        """The unit's activation in the rule's own shape: (n, T) for text, (n,) for images."""
        if unit_id not in self._true:
            ref = UnitRef.parse(unit_id)
            if ref.model != self.adapter.name:
                raise UserError(f"unit {unit_id} is of model {ref.model}, not {self.adapter.name}")
            if ref.site not in self._acts:
                self._acts[ref.site] = self.adapter.activations(self.inputs, ref.site)  # [n, P, U]
            acts = self._acts[ref.site]
            readout = _readout(ref)
            if readout is None:
                if not 0 <= ref.index < acts.shape[-1]:
                    raise UserError(f"unit {unit_id}: index {ref.index} is out of range (site width {acts.shape[-1]})")
                value = acts[..., ref.index]
            else:
                value = readout(acts)
            if self.adapter.modality == "image":  # one value per image, whatever the site's layout
                value = value.reshape(len(self.inputs))
            self._true[unit_id] = np.asarray(value, dtype=np.float32)
        return self._true[unit_id]


def predictor(
    adapter: TorchAdapter, unit_id: str, rule: Rule, *, resolve: Resolve | None = None
) -> Callable[[np.ndarray], np.ndarray]:
    """``f(inputs) -> values``: the rule's prediction of ``unit_id`` on a batch of model inputs (token ids
    ``(n, T)`` or images), float32, shaped like ``adapter.activations(inputs, site)[..., index]``: ``(n, T)``
    for text, ``(n, 1)`` for images (the adapter gives an image one position). ``resolve(id)``: the player's
    rule for another unit, or None."""
    ref = UnitRef.parse(unit_id)
    if ref.model != adapter.name:
        raise UserError(f"unit {unit_id} is of model {ref.model}, not {adapter.name}")
    adapter.width(ref.site)  # an unknown site → UserError naming the model's sites
    if adapter.modality == "text" and not adapter.sites[ref.site].positional:
        raise UserError(f"unit {unit_id}: rules for text units need a per-token site")

    def run(batch: _Batch, uid: str, r: Rule, chain: tuple[str, ...]) -> np.ndarray:
        def unit(other: str) -> np.ndarray:
            if UnitRef.parse(other).id == ref.id:
                raise RuleError(f"unit({other!r}) is the unit being imitated: a rule may not read its answer", 0, 0)
            return batch.true_value(other)

        def imitation(other: str) -> np.ndarray:
            oid = UnitRef.parse(other).id
            if oid in chain:
                loop = " → ".join((*chain, oid))
                raise RuleError(f"imitation cycle: {loop}", 0, 0)
            sub = resolve(oid) if resolve is not None else None
            if sub is None:
                raise RuleError(f"no imitation of {oid} to use yet: write and save one first", 0, 0)
            return run(batch, oid, sub, (*chain, oid))

        inputs = RuleInputs(batch.rule_inputs.tokens, batch.rule_inputs.pixels, unit, imitation)
        return evaluate(r, inputs)

    def f(inputs: np.ndarray) -> np.ndarray:
        values = run(_Batch(adapter, inputs), ref.id, rule, (ref.id,))
        return values if adapter.modality == "text" else values[:, None]  # an image is one position: [n, 1, U]

    return f


# --- harvested examples --------------------------------------------------------------------------
def predict_examples(
    ctx: HarvestedUnit, rule: Rule, indices: Sequence[int] | np.ndarray, resolve: Resolve | None = None
) -> np.ndarray:
    """The rule's prediction on harvest examples ``indices`` (each evaluated on its whole window)."""
    idx = np.asarray(indices, dtype=np.int64)
    if idx.size == 0:
        return np.zeros(0, dtype=np.float32)
    loc = np.array([ctx.harvest.example_location(int(i)) for i in idx], dtype=np.int64).reshape(-1, 2)
    windows, inverse = np.unique(loc[:, 0], return_inverse=True)
    values = predictor(ctx.adapter, ctx.unit_id, rule, resolve=resolve)(ctx.harvest.inputs[windows])
    return values[inverse, loc[:, 1]] if ctx.modality == "text" else values.reshape(-1)[inverse]


def held_out_draws(ctx: HarvestedUnit, n: int = N_HELD_OUT, plan: SamplingPlan | None = None) -> Draws:
    """The held-out examples an imitation is scored on: the game's own draw of ``n`` askable examples (never a
    training or reference example), the same draw the bots play in :mod:`mirrorneuron.gameplay.imitations`."""
    n_held = int((~np.asarray(draw_examples(ctx, 0, plan).training)).sum())
    return draw_examples(ctx, min(n, max(1, n_held // 2)), plan)


def score_on(ctx: HarvestedUnit, rule: Rule, draws: Draws, resolve: Resolve | None = None) -> ScoreSummary:
    """The rule's standard metrics (``game.scoring.summarize``) on ``draws``, with its sampling weights."""
    idx = [d.index for d in draws.draws]
    pred = predict_examples(ctx, rule, idx, resolve)
    actual = np.asarray(ctx.values, dtype=np.float64)[idx]
    return summarize(actual, pred, scale=draws.stats.scale, weights=[d.weight for d in draws.draws])
