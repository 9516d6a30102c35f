"""The next-unit suggestion on the planted model, where the sums of ``layers.1.post`` depend on known
detectors (sum 0 = det 0 + det 1, sum 1 = det 1 − det 2): it stays on graph links from the imitated units and
measures a perfect imitation's worth; suggesting from a shuffled graph is caught."""

from __future__ import annotations

import numpy as np
import pytest

from mirrorneuron.buildout.splice import Predictor, Splicer, SpliceUnit, Task
from mirrorneuron.gameplay.modules import UnitSet, suggest, unit_set
from mirrorneuron.models.planted import PLANTED, VOCAB, planted_adapter, planted_text
from mirrorneuron.types import UserError

DET, SUM = "layers.0.post", "layers.1.post"
LINKS = [(0, 0, 1.0), (1, 0, 1.0), (1, 1, 1.0), (2, 1, 1.0)]  # (detector, sum, |weight|) of the planted mix


def uid(site: str, i: int) -> str:
    return f"planted/{site}/neuron/{i}"


def planted_set(links: list[tuple[str, str, float]] | None = None) -> UnitSet:
    nodes = [{"id": uid(DET, i), "site": DET, "index": i, "module": 0} for i in range(len(PLANTED))]
    nodes += [{"id": uid(SUM, j), "site": SUM, "index": j, "module": 0} for j in range(2)]
    edges = links if links is not None else [(uid(DET, d), uid(SUM, s), w) for d, s, w in LINKS]
    return UnitSet("planted", "module 0", nodes, edges)


def detector(i: int) -> Predictor:
    word, value = PLANTED[i]
    return lambda x: value * (x == VOCAB.index(word)).astype(np.float32)


@pytest.fixture(scope="module")
def splicer() -> Splicer:
    ids = np.asarray(planted_adapter().tokenizer.encode(planted_text(2000, seed=3)).ids, dtype=np.int64)  # type: ignore[union-attr]
    return Splicer(planted_adapter(), Task("output", ids[: len(ids) // 16 * 16].reshape(-1, 16), slice="planted"))


def linked(uset: UnitSet, unit_id: str, imitated: set[str]) -> bool:
    return any({a, b} & imitated and unit_id in (a, b) for a, b, _ in uset.edges)


def test_the_suggestion_is_linked_to_the_imitated_units(splicer: Splicer) -> None:
    uset = planted_set()
    out = suggest(splicer, uset, {SpliceUnit(DET, 0): detector(0)}, ablation="zero")
    assert out["unit_id"] == uid(SUM, 0)  # det 0's only link
    assert [c["unit_id"] for c in out["candidates"]] == [uid(SUM, 0)]
    assert out["loss_gain"] > 0.1  # sum 0 is an output: ablating it costs a lot, its truth costs nothing
    two = suggest(splicer, uset, {SpliceUnit(DET, 0): detector(0), SpliceUnit(DET, 1): detector(1)}, ablation="zero")
    assert {c["unit_id"] for c in two["candidates"]} == {uid(SUM, 0), uid(SUM, 1)}
    assert linked(uset, two["unit_id"], {uid(DET, 0), uid(DET, 1)})
    gains = [c["loss_gain"] for c in two["candidates"]]
    assert gains == sorted(gains, reverse=True)


def test_with_nothing_imitated_the_most_linked_units_are_measured(splicer: Splicer) -> None:
    out = suggest(splicer, planted_set(), {}, ablation="zero")
    # det 1 and both sums carry two links each, det 0 and det 2 one: every unit is a candidate, strongest first
    assert {c["unit_id"] for c in out["candidates"]} == {n["id"] for n in planted_set().nodes}
    best = max(out["candidates"], key=lambda c: c["loss_gain"])
    assert out["unit_id"] == best["unit_id"] and best["loss_gain"] > 0


def test_a_suggestion_from_a_shuffled_graph_is_caught(splicer: Splicer) -> None:
    """Planted fault: the links shuffled (each detector tied to the wrong units); the suggestion then leaves the
    imitated units' neighbourhood and the check above fires."""
    true = planted_set()
    shuffled = planted_set([(uid(DET, 0), uid(DET, 2), 1.0), (uid(DET, 1), uid(SUM, 1), 1.0)])
    out = suggest(splicer, shuffled, {SpliceUnit(DET, 0): detector(0)}, ablation="zero")
    assert out["unit_id"] == uid(DET, 2)
    assert not linked(true, out["unit_id"], {uid(DET, 0)})


def test_unit_sets_of_a_module_set() -> None:
    found = {
        "model": "planted",
        "sites": [DET, SUM],
        "k": 2,
        "graph": {
            "nodes": [
                {"id": n["id"], "site": n["site"], "index": n["index"], "module": int(n["site"] == SUM)}
                for n in planted_set().nodes
            ],
        },
        "links": [{"source": a, "target": b, "weight": w} for a, b, w in planted_set().edges],
    }
    layer = unit_set(found, site=SUM)
    assert layer.ids == [uid(SUM, 0), uid(SUM, 1)] and layer.edges == []  # no links inside the sum layer
    assert len(unit_set(found, module=0).ids) == 3
    for bad in ({"site": "nope"}, {"module": 5}, {}, {"site": DET, "module": 0}):
        with pytest.raises(UserError):
            unit_set(found, **bad)  # type: ignore[arg-type]
