"""The rule evaluator on hand-made batches: each construct's values, the additive/else semantics, and the
evaluation errors with their line and column."""

from __future__ import annotations

import numpy as np
import pytest

from mirrorneuron.buildout.rules import RuleError, RuleInputs, evaluate, parse_rule

TOKS = np.array([[" the", " cat", " of", "Dog"], [" of", " the", "7", " a"]], dtype=object)
PIX = np.zeros((2, 8, 8))
PIX[0, :4, :4] = 1.0  # image 0: top-left quarter inked
PIX[1, 4:, :] = 0.5  # image 1: bottom half grey


def text(source: str, **kw: object) -> np.ndarray:
    return evaluate(parse_rule(source), RuleInputs(tokens=TOKS, **kw), source)  # type: ignore[arg-type]


def image(source: str, **kw: object) -> np.ndarray:
    return evaluate(parse_rule(source), RuleInputs(pixels=PIX, **kw), source)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("source", "want"),
    [
        ('token " the" -> 2.5', [[2.5, 0, 0, 0], [0, 2.5, 0, 0]]),
        ('token " the" " a" -> 1, " cat" -> 3', [[1, 3, 0, 0], [0, 1, 0, 1]]),
        ("regex /^[A-Z0-9]/ -> 1", [[0, 0, 0, 1], [0, 0, 1, 0]]),
        ('if prev == " of" then +0.5', [[0, 0, 0, 0.5], [0, 0.5, 0, 0]]),
        ('if next != " the" then 1', [[1, 1, 1, 1], [0, 1, 1, 1]]),
        ('if tok[-2] in (" the", " of") then 1', [[0, 0, 1, 0], [0, 0, 1, 1]]),
        ('if prev not in (" of") and pos >= 1 then 1', [[0, 1, 1, 0], [0, 0, 1, 1]]),
        ("if not pos < 2 or pos == 0 then 1", [[1, 0, 1, 1], [1, 0, 1, 1]]),
        ('if prev == "" then 9', [[9, 0, 0, 0], [9, 0, 0, 0]]),  # nothing before the window
        ("pos * 2 - 1", [[-1, 1, 3, 5], [-1, 1, 3, 5]]),
        ("1 / 0 + pos / 2", [[0, 0.5, 1, 1.5], [0, 0.5, 1, 1.5]]),  # x / 0 is 0
        ("relu(pos - 2) + abs(-1) + min(pos, 1) + max(pos, 2, 0)", [[3, 4, 4, 6], [3, 4, 4, 6]]),
        # else: added only where no conditional line holds; unconditional terms always add
        ('token " the" -> 2\nelse -1\n0.5', [[2.5, -0.5, -0.5, -0.5], [-0.5, 2.5, -0.5, -0.5]]),
        ('token " the" -> 2\nif pos == 0 then 1', [[3, 0, 0, 0], [1, 2, 0, 0]]),
    ],
)
def test_text_constructs(source: str, want: list[list[float]]) -> None:
    got = text(source)
    assert got.dtype == np.float32 and got.shape == TOKS.shape
    np.testing.assert_allclose(got, np.array(want, dtype=np.float32), atol=1e-6)


def test_pixels_are_region_means() -> None:
    np.testing.assert_allclose(image("pixels[0:4, 0:4] * 0.3"), [0.3, 0.0], atol=1e-6)
    np.testing.assert_allclose(image("pixels[4:8, 0:8] - pixels[0:8, 0:8] + pos"), [-0.25, 0.25], atol=1e-6)
    assert image("1").shape == (2,)


def test_other_units_are_looked_up() -> None:
    other = np.arange(8, dtype=np.float64).reshape(2, 4)
    got = text('0.5 * unit("m/s/neuron/1") - imitation("m/s/neuron/2")',
               unit=lambda uid: other, imitation=lambda uid: np.ones((2, 4)))
    np.testing.assert_allclose(got, 0.5 * other - 1)


EVAL_ERRORS = [
    (image, 'if tok == "a" then 1', 1, 4, "need a text model"),
    (text, "1\npixels[0:2, 0:2]", 2, 1, "needs an image model"),
    (image, "pixels[0:9, 0:2]", 1, 1, "outside the 8×8 image"),
    (text, '2 * unit("m/s/neuron/1")', 1, 5, "is not available here"),
    (text, 'imitation("m/s/neuron/1")', 1, 1, "is not available here"),
]


@pytest.mark.parametrize(("run", "source", "line", "col", "message"), EVAL_ERRORS, ids=[e[4] for e in EVAL_ERRORS])
def test_evaluation_errors_point_at_the_construct(run, source: str, line: int, col: int, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(RuleError) as exc:
        run(source)
    assert (exc.value.line, exc.value.col) == (line, col) and message in str(exc.value)
    assert exc.value.caret  # the source line is shown


def test_a_looked_up_unit_of_another_shape_is_refused() -> None:
    with pytest.raises(RuleError, match="has shape") as exc:
        text('unit("m/s/neuron/1")', unit=lambda uid: np.zeros(2))
    assert (exc.value.line, exc.value.col) == (1, 1)


def test_regexes_run_once_per_distinct_token(monkeypatch: pytest.MonkeyPatch) -> None:
    import re

    calls: list[str] = []
    real = re.compile

    class Counting:
        def __init__(self, rx: re.Pattern[str]) -> None:
            self.rx = rx

        def search(self, s: str) -> re.Match[str] | None:
            calls.append(s)
            return self.rx.search(s)

    rule = parse_rule("regex /a/ -> 1")
    big = np.array([[" a", " b"] * 500] * 20, dtype=object)
    monkeypatch.setattr(re, "compile", lambda p: Counting(real(p)))
    got = evaluate(rule, RuleInputs(tokens=big))
    assert got.sum() == 500 * 20 and len(calls) == 2
