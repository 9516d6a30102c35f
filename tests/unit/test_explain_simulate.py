"""The explanation simulator (buildout.simulate / buildout.explain) against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from explain_fake import FakeBackend
from mirrorneuron.buildout.explain import clean_explanation, explanation_prompt, write_explanation
from mirrorneuron.buildout.simulate import (
    EXPLANATION_PREFIX,
    SYSTEM,
    denormalize,
    expected_value,
    normalize,
    parse_lines,
    score_simulation,
    simulate_example,
    simulation_prompt,
)
from mirrorneuron.game.context import TextExample
from mirrorneuron.game.scoring import summarize
from mirrorneuron.players.simulator_backends import _chat_slots
from mirrorneuron.types import UserError


def test_normalize_floors_to_0_10_by_the_max_with_negatives_at_0() -> None:
    assert normalize([-1.0, 0.0, 2.5, 4.99, 10.0, 12.0], 10.0).tolist() == [0, 0, 2, 4, 10, 10]
    assert normalize([0.3, 0.6], 0.6).tolist() == [5, 10]
    assert normalize([1.0, 2.0], 0.0).tolist() == [0, 0]  # no positive activation: all at rest
    assert denormalize([5.0, 10.0], 0.6).tolist() == pytest.approx([0.3, 0.6])


def test_prompt_has_one_unknown_slot_per_token_and_the_explanation() -> None:
    ex = TextExample(("The", " cat", "\tsat", "\n"), 1)
    p = simulation_prompt("  the token cat ", ex)
    assert p.text.startswith(SYSTEM)
    assert f"Explanation of neuron 2 behavior: {EXPLANATION_PREFIX} the token cat\n" in p.text
    assert len(p.slots) == 4 and all(p.text[s : s + 8] == "unknown\n" for s in p.slots)
    assert all(p.text[s - 1] == "\t" for s in p.slots)
    block = p.text[p.text.rindex("<start>\n") :]
    assert (
        block == "<start>\nThe\tunknown\n cat\tunknown\n\\tsat\tunknown\n\\n\tunknown\n<end>\n"
    )  # tab/newline escaped


def test_expected_value_over_0_to_10_renormalised() -> None:
    # probabilities 0.5 (not a digit), 0.25 on "0", 0.125 on "10", 0.125 on "4": over the digits, 0.5/0.25/0.25
    tops = {"unknown": math.log(0.5), "0": math.log(0.25), "10": math.log(0.125), "4": math.log(0.125)}
    assert expected_value(tops) == pytest.approx(0.5 * 0 + 0.25 * 10 + 0.25 * 4)  # 3.5
    assert expected_value({" 6": math.log(0.1), "6": math.log(0.1), "2": math.log(0.2)}) == pytest.approx(4.0)
    assert expected_value({"unknown": 0.0, "11": -1.0}) is None  # no 0..10 token: no expected value


def test_parse_lines_fallback_reads_each_lines_number() -> None:
    reply = "Sure.\n<start>\nThe\t0\n cat\t9\n sat\tmaybe\n"
    assert parse_lines(reply, 4) == [0.0, 9.0, None, None]
    assert parse_lines("a\t12\nb\t3.5\n", 2) == [10.0, 3.5]  # clipped to 10


def test_simulate_uses_logprobs_then_falls_back_to_the_text() -> None:
    ex = TextExample(("a", " cat", " b"), 1)
    hit = simulate_example(FakeBackend(), "the word cat", ex)
    assert hit.by == "logprobs" and hit.value == pytest.approx(0.7 * 10 + 0.2 * 9)  # HIT's expected value 8.8
    miss = simulate_example(FakeBackend(), "the word cat", TextExample(("a", " cat", " b"), 2))
    assert miss.by == "logprobs" and miss.value == pytest.approx(0.2)  # MISS: 0.8 on 0, 0.2 on 1
    text = simulate_example(FakeBackend(with_logprobs=False), "the word cat", ex)
    assert text.by == "text" and text.value == 10.0


def _unit() -> tuple[list[TextExample], list[float]]:
    rng = np.random.default_rng(0)
    words = [" cat", " dog", " the", " sun", " cats"]
    examples, actual = [], []
    for i in range(20):
        w = words[i % len(words)]
        examples.append(TextExample(("Once", w, " ran"), 1))
        actual.append((4.0 if "cat" in w else 0.2) + float(rng.normal(0, 0.3)))
    return examples, actual


def test_score_is_the_pooled_correlation_of_the_simulation() -> None:
    examples, actual = _unit()
    result = score_simulation(FakeBackend(), "the word cat", examples, actual, max_activation=5.0, scale=4.0)
    sim = np.array(result.simulated)
    assert result.summary.correlation == pytest.approx(float(np.corrcoef(actual, sim)[0, 1]))
    assert result.summary.correlation > 0.9
    assert result.summary == summarize(actual, sim / 10 * 5.0, scale=4.0)  # de-normalised, game.scoring metrics
    assert set(result.by) == {"logprobs"}


def test_planted_fault_a_wrong_or_shuffled_explanation_scores_worse() -> None:
    examples, actual = _unit()
    good = score_simulation(FakeBackend(), "the word cat", examples, actual, 5.0).summary.correlation
    wrong = score_simulation(FakeBackend(), "the word dog", examples, actual, 5.0).summary.correlation
    shuffled = list(np.random.default_rng(1).permutation(len(examples)))
    mixed = score_simulation(FakeBackend(), "the word cat", [examples[i] for i in shuffled], actual, 5.0)
    assert wrong < good - 0.5 and mixed.summary.correlation < good - 0.5


def test_explainer_prompt_and_cleanup() -> None:
    ex = [TextExample(("A", " cat"), 1), TextExample(("A", " dog"), 0)]
    p = explanation_prompt(ex, [5.0, 0.0], 5.0)
    assert "<start>\nA\n cat\t10\n<end>\n" in p and "<start>\nA\t0\n dog\n<end>\n" in p
    assert p.endswith(f"Explanation of neuron 1 behavior: {EXPLANATION_PREFIX}")
    assert "filtered out:\n<start>\n cat\t10\n<end>\n" in p  # the zero example is not repeated
    assert clean_explanation(" the word cat.\nMore text") == "the word cat"


def test_explainer_writes_from_the_top_examples_only() -> None:
    ex = [TextExample(("x", f" w{i}"), 1) for i in range(15)]
    backend = FakeBackend(explainer_reply=" tokens w.\n")
    assert write_explanation(backend, ex, [float(i) for i in range(15)], 14.0) == "tokens w"
    assert " w14\t10" in backend.prompts[0] and " w4\t" not in backend.prompts[0]  # the 10 highest of 15
    with pytest.raises(UserError, match="reference examples"):
        write_explanation(backend, [], [], 1.0)
    with pytest.raises(UserError, match="empty explanation"):
        write_explanation(FakeBackend(explainer_reply="\n"), ex, [1.0] * 15, 1.0)


def test_chat_slots_are_the_tokens_after_each_tab() -> None:
    content = [
        {"token": "a", "logprob": -0.1, "top_logprobs": []},
        {"token": "\t", "logprob": -0.1, "top_logprobs": []},
        {
            "token": "7",
            "logprob": -0.2,
            "top_logprobs": [{"token": "7", "logprob": -0.2}, {"token": "3", "logprob": -2}],
        },
        {"token": "\n b\t", "logprob": -0.1},
        {"token": "0", "logprob": -0.05},
    ]
    assert _chat_slots(content, 3) == [{"7": -0.2, "3": -2.0}, {"0": -0.05}, {}]
