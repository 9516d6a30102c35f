"""The explainer: an LLM writes a one-sentence explanation of a unit from its top-activating reference examples.

As OpenAI automated-interpretability's ``TokenActivationPairExplainer`` (``explanations/explainer.py``): its
system text, the examples as ``token<tab>activation`` lines normalised 0–10 by the max activation, the
"same activations, but with all zeros filtered out" repeat, and the completion after "Explanation of neuron 1
behavior: the main thing this neuron does is find". A game example knows its value at the target token only,
so only that line carries a number; the other tokens are context (written without a tab).
The explanation is then scored like a player's (:mod:`mirrorneuron.buildout.simulate`).
"""

from __future__ import annotations

from collections.abc import Sequence

from mirrorneuron.buildout.simulate import EXPLANATION_PREFIX, normalize, show_token
from mirrorneuron.game.context import TextExample
from mirrorneuron.players.simulator_backends import SimulatorBackend
from mirrorneuron.types import UserError

SYSTEM = (
    "We're studying neurons in a neural network. Each neuron looks for some particular thing in a short "
    "document. Look at the parts of the document the neuron activates for and summarize in a single sentence "
    "what the neuron is looking for. Don't list examples of words.\n\n"
    "The activation format is token<tab>activation. Activation values range from 0 to 10. A neuron finding "
    "what it's looking for is represented by a non-zero activation value. The higher the activation value, "
    "the stronger the match. Only the token marked with an activation was measured.\n"
)
TOP_EXAMPLES = 10  # the originals use the top-activating records of the unit (plus random ones elsewhere)
MAX_TOKENS = 40  # one sentence; the first line of the reply is kept


def explanation_prompt(examples: Sequence[TextExample], values: Sequence[float], max_activation: float) -> str:
    """The explainer prompt for reference ``examples`` with true target values ``values``."""
    norm = normalize(values, max_activation)
    blocks, nonzero = [], []
    for ex, v in zip(examples, norm, strict=True):
        lines = "".join(
            f"{show_token(t)}\t{int(v)}\n" if i == ex.target else f"{show_token(t)}\n" for i, t in enumerate(ex.tokens)
        )
        blocks.append(f"<start>\n{lines}<end>\n")
        if v > 0:
            nonzero.append(f"<start>\n{show_token(ex.target_token)}\t{int(v)}\n<end>\n")
    return (
        f"{SYSTEM}\n\nNeuron 1\nActivations:\n{''.join(blocks)}"
        f"Same activations, but with all zeros filtered out:\n{''.join(nonzero)}"
        f"\nExplanation of neuron 1 behavior: {EXPLANATION_PREFIX}"
    )


def clean_explanation(reply: str) -> str:
    """The first line of the reply, stripped of a trailing period (as the originals' postprocessing)."""
    line = next((ln.strip() for ln in reply.strip().splitlines() if ln.strip()), "")
    return line[:-1].rstrip() if line.endswith(".") else line


def write_explanation(
    backend: SimulatorBackend, examples: Sequence[TextExample], values: Sequence[float], max_activation: float
) -> str:
    """An LLM-written explanation from the top :data:`TOP_EXAMPLES` of ``examples`` by value."""
    if not examples:
        raise UserError("no reference examples to write an explanation from: play the unit at level 1 first")
    order = sorted(range(len(examples)), key=lambda i: -values[i])[:TOP_EXAMPLES]
    prompt = explanation_prompt([examples[i] for i in order], [values[i] for i in order], max_activation)
    text = clean_explanation(backend.complete(prompt, MAX_TOKENS))
    if not text:
        raise UserError(f"the explainer ({backend.name}) wrote an empty explanation; try another model")
    return text
