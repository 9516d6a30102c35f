"""A rule-based stand-in for an LLM simulator, shared by the explanation tests (unit: an in-process backend;
integration: the fake OpenAI-compatible server). It reads the all-at-once prompt like a model would: the last
word of neuron 2's explanation is a keyword, and a token containing it fires at 10, every other token at 0."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from mirrorneuron.players.simulator_backends import TopLogprobs

_EXPLANATION = re.compile(r"Explanation of neuron 2 behavior: the main thing this neuron does is find (.*)\n")
HIT = {"10": math.log(0.7), "9": math.log(0.2), "0": math.log(0.1), "\t": math.log(0.01)}
MISS = {"0": math.log(0.8), "1": math.log(0.2), "unknown": math.log(0.05)}


def keyword(prompt: str) -> str:
    found = _EXPLANATION.findall(prompt)
    return found[-1].split()[-1].lower().strip(".'\"") if found else ""


def block_tokens(prompt: str) -> list[str]:
    """The tokens of neuron 2's ``<start>`` … ``<end>`` block."""
    tail = prompt[prompt.rfind("Explanation of neuron 2") :]
    body = tail.split("<start>\n", 1)[1].split("<end>", 1)[0]
    return [line.rsplit("\t", 1)[0] for line in body.splitlines() if "\t" in line]


def fires(prompt: str) -> list[bool]:
    word = keyword(prompt)
    return [bool(word) and word in t.lower() for t in block_tokens(prompt)]


def filled_lines(prompt: str) -> str:
    """The reply of a model writing the numbers itself."""
    return (
        "".join(f"{t}\t{10 if f else 0}\n" for t, f in zip(block_tokens(prompt), fires(prompt), strict=True))
        + "<end>\n"
    )


class FakeBackend:
    """In-process :class:`SimulatorBackend`; ``with_logprobs=False`` makes it a text-only model."""

    name = "fake"

    def __init__(self, with_logprobs: bool = True, explainer_reply: str = "the word cat.") -> None:
        self.with_logprobs, self.explainer_reply = with_logprobs, explainer_reply
        self.prompts: list[str] = []

    def complete(self, prompt: str, max_tokens: int) -> str:
        self.prompts.append(prompt)
        if "Explanation of neuron 2" not in prompt:
            return self.explainer_reply
        return filled_lines(prompt)

    def logprobs(self, prompt: str, slots: Sequence[int]) -> list[TopLogprobs] | None:
        self.prompts.append(prompt)
        if not self.with_logprobs:
            return None
        return [dict(HIT if f else MISS) for f in fires(prompt)]
