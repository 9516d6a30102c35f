"""Prompt rendering: what a human sees, from Round.to_dict(), never the asked value."""

from __future__ import annotations

import numpy as np

from mirrorneuron.game import (
    ArrayContext,
    Contributions,
    ImageExample,
    NeighbourHint,
    Reveal,
    TextExample,
    make_rounds,
)
from mirrorneuron.players import parse_number, render_example, render_prompt


def text_context(n: int = 80) -> ArrayContext:
    rng = np.random.default_rng(0)
    values = rng.normal(0.0, 1.0, n).round(6) + 0.1234567
    examples = [TextExample(("The", " cat", f" sat{i}", " on", "\n"), 2) for i in range(n)]
    neighbours = [[NeighbourHint("blocks.0.mlp.post/3", "upstream", 0.25)] for _ in range(n)]
    contribs = [Contributions((("in.a", 1.5), ("in.b", -0.5)), 0.125, "gelu") for _ in range(n)]
    return ArrayContext("m/blocks.0.mlp.post/neuron/1", values, examples, neighbours, contribs)


def test_text_example_marks_the_target() -> None:
    out = render_example(TextExample(("The", " cat", " sat", "\n"), 1).to_dict())
    assert out.splitlines() == ["The[[ cat]] sat↵", "target token: ' cat'"]


def test_image_example_is_shaded() -> None:
    out = render_example(ImageExample(np.array([[0.0, 1.0], [0.5, 0.0]])).to_dict())
    assert out.splitlines() == [" @", "= "]


def test_prompt_per_level_and_never_the_answer() -> None:
    ctx = text_context()
    for level in range(4):
        rnd = make_rounds(ctx, level, 1, seed=1).rounds[0]
        messages = render_prompt(rnd)
        assert [m["role"] for m in messages] == ["system", "user"]
        user = messages[1]["content"]
        assert f"The cat[[ sat{rnd.index}]] on↵" in user
        assert f"{ctx.values[rnd.index]:.4g}" not in user
        assert ("Reference examples" in user) == (level >= 1)
        assert ("blocks.0.mlp.post/3 (upstream): 0.25" in user) == (level >= 2)
        assert ("- in.a: 1.5" in user and "- bias: 0.125" in user and "gelu(" in user) == (level == 3)


def test_history_shows_earlier_reveals() -> None:
    ctx = text_context()
    first, second = make_rounds(ctx, 0, 2, seed=1).rounds
    user = render_prompt(second, [(first, Reveal.of(first, 0.5, 2.75))])[1]["content"]
    assert "true activation 2.75" in user and f"[[ sat{first.index}]]" in user
    assert user.index("Earlier rounds") < user.index("Example to guess")


def test_parse_number() -> None:
    assert parse_number("I think 2.5") == 2.5
    assert parse_number("−1.5e-1, maybe 3") == -0.15
    assert parse_number("about .5") == 0.5
    assert parse_number("1e999 or 4") == 4.0
    assert parse_number("no idea") is None
