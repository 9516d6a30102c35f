"""Simulate a unit from an explanation alone, and score the simulation (explain → simulate → score).

Follows OpenAI's automated-interpretability (``neuron_explainer/explanations/simulator.py``,
``ExplanationNeuronSimulator``; ``activations/activation_records.py``; ``explanations/scoring.py``) and delphi's
simulation scorer (``delphi/scorers/simulator``), which reuses it:

- activations are normalised to the integers 0–10 by the unit's max activation, negatives as 0
  (:func:`normalize`, as ``normalize_activations``);
- one "all at once" prompt per example: the originals' system text, a few-shot neuron, then "Explanation of
  neuron 2 behavior: the main thing this neuron does is find <explanation>" and the example's tokens, one
  ``token<tab>unknown`` line per token between ``<start>`` and ``<end>`` (:func:`simulation_prompt`);
- with log-probabilities, the predicted value at a token is the expected value over the tokens "0".."10" at its
  slot, the probabilities renormalised over those tokens (:func:`expected_value`, as
  ``compute_predicted_activation_stats_for_token``); without, the number the model wrote on that line
  (:func:`parse_lines`);
- the score is the pooled correlation over all tokens of all examples (``score_from_simulation`` with
  ``correlation_score`` on the flattened records), here with :func:`mirrorneuron.game.scoring.summarize`,
  which also gives r², absolute deviation explained and the mean round score of the de-normalised predictions.

Differences (docs/explanations.md): a game example has its true value at one target token only, so every token
gets a slot (the model predicts them all, as in the original prompt) but only the target's slot is scored; and
one short hand-written few-shot neuron instead of the originals' set.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from mirrorneuron.game.context import TextExample
from mirrorneuron.game.scoring import ScoreSummary, summarize
from mirrorneuron.players.simulator_backends import DIGITS, FILL_IN, SimulatorBackend

MAX_NORMALIZED = 10
EXPLANATION_PREFIX = "the main thing this neuron does is find"
UNKNOWN = "unknown"
SYSTEM = (
    "We're studying neurons in a neural network.\n"
    "Each neuron looks for some particular thing in a short document.\n"
    "Look at summary of what the neuron does, and try to predict how it will fire on each token.\n\n"
    'The activation format is token<tab>activation, activations go from 0 to 10, "unknown" indicates an '
    "unknown activation. Most activations will be 0.\n"
)
# One few-shot neuron (ours): shows the format, a firing token and the resting zeros.
FEW_SHOT_EXPLANATION = "the names of months of the year"
FEW_SHOT = (
    ("We", 0),
    (" met", 0),
    (" in", 0),
    (" early", 0),
    (" March", 10),
    (" and", 0),
    (" again", 0),
    (" in", 0),
    (" May", 8),
    (".", 0),
)
_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def normalize(values: Sequence[float] | np.ndarray, max_activation: float) -> np.ndarray:
    """Integers 0..10: ``min(10, floor(10 * relu(x) / max_activation))``; all 0 when the max is not positive."""
    x = np.asarray(values, dtype=float)
    if max_activation <= 0:
        return np.zeros(x.shape, dtype=int)
    return np.minimum(MAX_NORMALIZED, np.floor(MAX_NORMALIZED * np.maximum(x, 0.0) / max_activation)).astype(int)


def denormalize(values: Sequence[float] | np.ndarray, max_activation: float) -> np.ndarray:
    """Back to the unit's scale: a simulated ``v`` in 0..10 is ``v / 10 * max_activation``."""
    return np.asarray(values, dtype=float) / MAX_NORMALIZED * max(max_activation, 0.0)


def show_token(token: str) -> str:
    """A token as it is written on its line: tabs and newlines would break the line format."""
    return token.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def token_lines(tokens: Sequence[str], values: Sequence[int | str]) -> str:
    return "".join(f"{show_token(t)}\t{v}\n" for t, v in zip(tokens, values, strict=True))


@dataclass(frozen=True)
class SimPrompt:
    text: str
    slots: tuple[int, ...]  # character offset of each token's "unknown", one per token


def simulation_prompt(explanation: str, example: TextExample) -> SimPrompt:
    """The all-at-once prompt for one example (format NONE of the originals' PromptBuilder: messages joined)."""
    shots = token_lines([t for t, _ in FEW_SHOT], [v for _, v in FEW_SHOT])
    head = (
        f"{SYSTEM}\n\nNeuron 1\nExplanation of neuron 1 behavior: {EXPLANATION_PREFIX} {FEW_SHOT_EXPLANATION}"
        f"\nActivations: \n<start>\n{shots}<end>\n"
        f"\n\nNeuron 2\nExplanation of neuron 2 behavior: {EXPLANATION_PREFIX} {explanation.strip()}"
        "\nActivations: \n<start>\n"
    )
    text, slots = head, []
    for token in example.tokens:
        text += f"{show_token(token)}\t"
        slots.append(len(text))
        text += f"{UNKNOWN}\n"
    return SimPrompt(text + "<end>\n", tuple(slots))


def expected_value(top_logprobs: Mapping[str, float]) -> float | None:
    """Expected value over the tokens "0".."10" among ``top_logprobs``, their probabilities renormalised;
    ``None`` when none of them is there."""
    probs: dict[int, float] = {}
    for token, lp in top_logprobs.items():
        if token.strip() in DIGITS:  # " 5" and "5" are the same value
            probs[int(token)] = probs.get(int(token), 0.0) + math.exp(lp)
    total = sum(probs.values())
    if total <= 0:
        return None
    return sum(v * p for v, p in probs.items()) / total


def parse_lines(reply: str, n: int) -> list[float | None]:
    """The number written on each of the first ``n`` ``token<tab>number`` lines of ``reply`` (clipped to
    0..10), ``None`` for a line without one or a missing line. Lines before a ``<start>`` are skipped."""
    body = reply.split("<start>", 1)[1] if "<start>" in reply else reply
    out: list[float | None] = []
    for line in body.splitlines():
        if "\t" not in line:
            continue
        m = _NUMBER.match(line.rsplit("\t", 1)[1].strip())
        out.append(None if m is None else min(float(MAX_NORMALIZED), float(m.group())))
        if len(out) == n:
            break
    return out + [None] * (n - len(out))


@dataclass(frozen=True)
class Simulated:
    value: float  # the simulated normalised value (0..10) at the example's target token
    by: str  # "logprobs" (expected value), "text" (parsed number) or "failed" (neither: 0, as the originals)


def simulate_example(backend: SimulatorBackend, explanation: str, example: TextExample) -> Simulated:
    """The simulated normalised activation at ``example``'s target token."""
    prompt = simulation_prompt(explanation, example)
    tops = backend.logprobs(prompt.text, prompt.slots)
    if tops is not None:
        ev = expected_value(tops[example.target])
        if ev is not None:
            return Simulated(ev, "logprobs")
    reply = backend.complete(prompt.text + FILL_IN, 12 * len(example.tokens) + 16)
    value = parse_lines(reply, len(example.tokens))[example.target]
    return Simulated(0.0, "failed") if value is None else Simulated(value, "text")


@dataclass(frozen=True)
class SimulationScore:
    summary: ScoreSummary  # de-normalised predictions against the true values (game.scoring)
    simulated: tuple[float, ...]  # normalised 0..10, one per example
    by: tuple[str, ...]

    def to_dict(self) -> dict[str, object]:
        return {**self.summary.to_dict(), "simulated": list(self.simulated), "by": list(self.by)}


def score_simulation(
    backend: SimulatorBackend,
    explanation: str,
    examples: Sequence[TextExample],
    actual: Sequence[float],
    max_activation: float,
    scale: float | Sequence[float] | None = None,
) -> SimulationScore:
    """Simulate every example from ``explanation`` and score against ``actual`` (pooled over the examples)."""
    if len(examples) != len(actual):
        raise ValueError(f"{len(examples)} examples but {len(actual)} true values")
    sims = [simulate_example(backend, explanation, ex) for ex in examples]
    simulated = np.array([s.value for s in sims])
    summary = summarize(actual, denormalize(simulated, max_activation), scale=scale)
    return SimulationScore(summary, tuple(float(v) for v in simulated), tuple(s.by for s in sims))
