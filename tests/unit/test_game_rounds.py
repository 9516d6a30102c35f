"""Examples, levels, hints and rounds: content per level, determinism, and no answer leakage."""

import dataclasses
import json
import math
from typing import Any

import numpy as np
import pytest

from mirrorneuron.game import (
    ArrayContext,
    Contributions,
    ImageExample,
    Level,
    NeighbourHint,
    TextExample,
    UnitStats,
    apply_nonlinearity,
    build_hints,
    make_rounds,
    reference_examples,
    truth_from,
)

VOCAB = ["the", "cat", "sat", "on", "a", "mat", ",", "."]


UNIT = "fake/blocks.0.mlp.post/neuron/3"


def fake_context(n: int = 300, seed: int = 0, unit_id: str = UNIT) -> ArrayContext:
    """Unique, skewed values; level-2/3 data that never equals the value itself."""
    rng = np.random.default_rng(seed)
    values = np.round(rng.exponential(1.0, n) ** 2, 9) + np.arange(n) * 1e-6  # all distinct
    examples = [TextExample(tuple(rng.choice(VOCAB, 6)), int(rng.integers(6))) for _ in range(n)]
    neighbours = [
        [
            NeighbourHint("blocks.0.mlp.post/neuron/1", "upstream", float(v * 0.5 + 0.1)),
            NeighbourHint("blocks.0.mlp.post/neuron/4", "same-layer", float(rng.normal())),
            NeighbourHint("probe/is_noun", "probe", float(rng.random())),
        ]
        for v in values
    ]
    contributions = []
    for v in values:
        t1 = float(rng.normal())
        terms = (("resid.0[7]", t1), ("resid.0[2]", v - t1 - 0.25))
        contributions.append(Contributions(terms, 0.25, "identity"))
    return ArrayContext(unit_id, values, examples, neighbours, contributions)


def numbers(obj: Any, path: str = "") -> list[tuple[str, float]]:
    """Every numeric leaf of a JSON-like object with its path."""
    if isinstance(obj, dict):
        return [x for k, v in obj.items() for x in numbers(v, f"{path}.{k}")]
    if isinstance(obj, list | tuple):
        return [x for v in obj for x in numbers(v, path)]
    if isinstance(obj, int | float) and not isinstance(obj, bool):
        return [(path, float(obj))]
    return []


def test_examples_validate_and_serialise() -> None:
    ex = TextExample(("a", "cat"), 1)
    assert ex.target_token == "cat" and ex.content_id == TextExample(("a", "cat"), 1).content_id
    with pytest.raises(ValueError, match="outside the window"):
        TextExample(("a",), 3)
    img = ImageExample(np.eye(3))
    assert img == ImageExample(np.eye(3)) and hash(img) == hash(ImageExample(np.eye(3)))
    assert img.to_dict()["kind"] == "image" and not img.pixels.flags.writeable
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        ImageExample(np.full((2, 2), 2.0))
    with pytest.raises(ValueError, match="2-D"):
        ImageExample(np.zeros(4))
    with pytest.raises(ValueError, match="group"):
        NeighbourHint("x", "sideways", 1.0)  # type: ignore[arg-type]


def test_nonlinearities() -> None:
    assert apply_nonlinearity("relu", [-1.0, 2.0]).tolist() == [0.0, 2.0]
    assert float(apply_nonlinearity("gelu", 1.0)) == pytest.approx(0.8413447460685429)  # x·Φ(x) at 1
    assert float(apply_nonlinearity("gelu_tanh", 1.0)) == pytest.approx(0.8411919906082768)
    assert float(apply_nonlinearity("identity", -3.5)) == -3.5
    with pytest.raises(ValueError, match="not elementwise"):
        apply_nonlinearity("softmax", [1.0])


def test_contributions_value_and_compact() -> None:
    c = Contributions((("a", 1.0), ("b", -3.0), ("c", 0.5), ("d", 0.25)), 0.5, "relu")
    assert c.preactivation == pytest.approx(-0.75) and c.value() == 0.0
    small = c.compact(2)
    assert [k for k, _ in small.terms] == ["b", "a", "other (2 terms)"]
    assert small.preactivation == pytest.approx(c.preactivation)
    assert not Contributions((), 0.0, "layernorm").elementwise


def test_levels() -> None:
    assert [lv.multiplier for lv in Level] == sorted((lv.multiplier for lv in Level), reverse=True)
    assert Level.parse("2") is Level.NEIGHBOURS and Level.parse("weights") is Level.WEIGHTS
    assert Level.parse(0) is Level.BLIND and "blind" in Level.BLIND.description
    with pytest.raises(ValueError, match="unknown level"):
        Level.parse("7")


def test_unit_stats() -> None:
    s = UnitStats.from_values(np.arange(101.0))
    assert (s.min, s.max, s.mean, s.scale) == (0.0, 100.0, 50.0, 98.0)
    assert dict(s.quantiles) == {"q01": 1.0, "q10": 10.0, "q50": 50.0, "q90": 90.0, "q99": 99.0}


@pytest.mark.parametrize("level", list(Level))
def test_hint_content_per_level(level: Level) -> None:
    ctx = fake_context()
    rs = make_rounds(ctx, level, 20, seed=1)
    hints = rs.rounds[0].hints.to_dict()
    assert hints["unit_id"] == ctx.unit_id and "q99" in hints["stats"]
    assert ("references" in hints) == (level >= Level.EXAMPLES)
    assert ("neighbours" in hints) == (level >= Level.NEIGHBOURS)
    assert ("contributions" in hints) == (level >= Level.WEIGHTS)
    if level >= Level.EXAMPLES:
        refs = hints["references"]
        top = [r["value"] for r in refs if r["kind"] == "top"]
        assert len(refs) == 16 and top == sorted(top, reverse=True)
        assert all(r["value"] == ctx.values[r["index"]] for r in refs)


def test_level3_determines_the_answer() -> None:
    ctx = fake_context()
    for rnd in make_rounds(ctx, Level.WEIGHTS, 30, seed=2):
        assert rnd.hints.contributions is not None
        assert rnd.hints.contributions.value() == pytest.approx(ctx.values[rnd.index])


@pytest.mark.parametrize("level", list(Level))
def test_no_answer_leakage(level: Level) -> None:
    ctx = fake_context()
    rs = make_rounds(ctx, level, 60, seed=3)
    assert not {f.name for f in dataclasses.fields(rs.rounds[0])} & {"actual", "value", "answer"}
    for rnd in rs:
        actual = float(ctx.values[rnd.index])
        payload = rnd.to_dict()
        hits = {path for path, x in numbers(payload) if math.isclose(x, actual, rel_tol=1e-12)}
        assert hits <= {".hints.stats.min", ".hints.stats.max"}  # the argmax/argmin may equal the range
        assert repr(actual) not in json.dumps(payload).replace(repr(rnd.hints.stats.max), "")


def test_references_are_never_asked_and_sampling_is_hidden() -> None:
    ctx = fake_context()
    rs = make_rounds(ctx, Level.EXAMPLES, 140, seed=4)
    asked = {r.index for r in rs}
    assert not asked & set(rs.references.indices)
    assert set(rs.references.indices) <= set(np.flatnonzero(rs.training))  # references are training examples
    assert len(asked) == 140  # 150 askable examples: no repeats
    assert len({r.round_id for r in rs}) == 140
    assert "source" not in rs.rounds[0].to_dict() and "weight" not in rs.rounds[0].to_dict()
    assert rs.rounds[0].to_dict(include_sampling=True)["source"] in {"top", "bin", "random"}
    refs = reference_examples(ctx, rs.references)
    with pytest.raises(ValueError, match="never asked"):
        build_hints(Level.EXAMPLES, ctx, refs[0].index, refs, rs.stats)


def test_rounds_are_deterministic_for_a_seed() -> None:
    ctx = fake_context()
    a = [r.to_dict(include_sampling=True) for r in make_rounds(ctx, Level.NEIGHBOURS, 25, seed=9)]
    b = [r.to_dict(include_sampling=True) for r in make_rounds(ctx, Level.NEIGHBOURS, 25, seed=9)]
    c = [r.to_dict(include_sampling=True) for r in make_rounds(ctx, Level.NEIGHBOURS, 25, seed=10)]
    other_unit = make_rounds(fake_context(unit_id="fake/x/neuron/4"), Level.NEIGHBOURS, 25, seed=9)
    assert a == b and a != c
    assert [r["index"] for r in a] != [r.index for r in other_unit]
    json.dumps(a)


def test_truth_and_image_rounds() -> None:
    values = np.linspace(0.0, 1.0, 40)
    ctx = ArrayContext("digits/fc.0/neuron/0", values, [ImageExample(np.full((4, 4), v)) for v in values])
    rs = make_rounds(ctx, Level.EXAMPLES, 10, seed=0)
    truth = truth_from(ctx)
    assert [truth(r) for r in rs] == [values[r.index] for r in rs]
    assert rs.rounds[0].to_dict()["example"]["kind"] == "image"
    with pytest.raises(ValueError, match="no level-2"):
        make_rounds(ctx, Level.NEIGHBOURS, 1)
