"""Module finding on planted structure: the clustering must recover two disconnected halves, and lose them
when the structure is destroyed; Newman modularity against hand-computed values."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from mirrorneuron.buildout.graph import coactivation, site_weights, sparsify, unit_graph
from mirrorneuron.buildout.modules import find_modules, modularity, plot_modules
from mirrorneuron.models.vision import DigitsCNN, DigitsMLP, VisionConfig
from mirrorneuron.types import UserError

HALF = 20


def _two_halves(rng: np.random.Generator) -> np.ndarray:
    """A weighted graph of two dense halves with no link between them."""
    a = np.zeros((2 * HALF, 2 * HALF))
    for lo in (0, HALF):
        block = rng.uniform(0.2, 1.0, (HALF, HALF))
        a[lo : lo + HALF, lo : lo + HALF] = (block + block.T) / 2
    np.fill_diagonal(a, 0.0)
    return a


def _graph(affinity: np.ndarray):  # a UnitGraph over made-up units, affinity as given
    from mirrorneuron.buildout.graph import UnitGraph

    return UnitGraph("planted", ["s"], [("s", i) for i in range(len(affinity))], affinity, 1.0)


def _recovered(labels: np.ndarray) -> bool:
    truth = np.arange(len(labels)) >= len(labels) // 2
    return len(set(labels.tolist())) == 2 and all(len(set(labels[truth == t].tolist())) == 1 for t in (False, True))


def test_modularity_matches_hand_computed_values() -> None:
    # two triangles joined by one edge: m = 7, Q = 2 · (3/7 − (7/14)²) = 5/14
    a = np.zeros((6, 6))
    for i, j in [(0, 1), (1, 2), (0, 2), (3, 4), (4, 5), (3, 5), (2, 3)]:
        a[i, j] = a[j, i] = 1.0
    assert modularity(a, np.array([0, 0, 0, 1, 1, 1])) == pytest.approx(5 / 14)
    assert modularity(a, np.zeros(6, dtype=int)) == pytest.approx(0.0)


def test_planted_halves_are_recovered_and_a_shuffled_affinity_loses_them() -> None:
    rng = np.random.default_rng(0)
    a = _two_halves(rng)
    found = find_modules(_graph(a))  # k chosen by modularity
    assert _recovered(found.labels)
    assert found.modularity == pytest.approx(0.5, abs=0.02)  # two equal, unlinked halves: Q = 1/2
    assert found.baseline_modularity < 0.05

    # planted fault: the same weights on randomly chosen pairs (structure gone)
    iu = np.triu_indices(len(a), 1)
    shuffled = np.zeros_like(a)
    shuffled[iu] = rng.permutation(a[iu])
    shuffled += shuffled.T
    lost = find_modules(_graph(shuffled), k=2)
    assert not _recovered(lost.labels)
    assert lost.modularity < found.modularity - 0.3


def test_a_tiny_net_with_two_disconnected_halves_splits_into_them() -> None:
    torch.manual_seed(0)
    net = DigitsMLP(VisionConfig(width=2 * HALF, n_layers=2))
    with torch.no_grad():  # layer 1's first half reads only layer 0's first half, the second half the second
        w = net.layers[1]["linear"].weight
        w[:HALF, HALF:] = 0.0
        w[HALF:, :HALF] = 0.0
    sites, widths = ["layers.0.post", "layers.1.post"], [2 * HALF, 2 * HALF]
    found = find_modules(unit_graph("halves", net, sites, widths, neighbours=8), k=2)
    first = {f"halves/{s}/neuron/{i}" for s in sites for i in range(HALF)}
    assert {frozenset(m.units) for m in found.modules} == {frozenset(first), frozenset(_all(sites) - first)}
    assert all(m.external == 0.0 for m in found.modules)

    with torch.no_grad():  # planted fault: shuffle the weights, the halves are gone
        w.copy_(w.flatten()[torch.randperm(w.numel(), generator=torch.Generator().manual_seed(1))].view_as(w))
    lost = find_modules(unit_graph("halves", net, sites, widths, neighbours=8), k=2)
    assert {frozenset(m.units) for m in lost.modules} != {frozenset(first), frozenset(_all(sites) - first)}
    assert lost.modularity < found.modularity


def _all(sites: list[str]) -> set[str]:
    return {f"halves/{s}/neuron/{i}" for s in sites for i in range(2 * HALF)}


def test_coactivation_keeps_positive_correlation_only() -> None:
    x = np.linspace(-1, 1, 50)
    acts = [np.stack([x, 2 * x + 1], 1), np.stack([-x, np.full(50, 3.0)], 1)]  # twin, anti, constant
    c = coactivation(acts)
    assert c[0, 1] == pytest.approx(1.0) and c[1, 0] == pytest.approx(1.0)
    assert c[0, 2] == 0.0 and c[0, 3] == 0.0 and c[3].sum() == 0.0
    assert np.all(np.diag(c) == 0.0)


def test_sparsify_keeps_each_nodes_strongest_links_symmetrically() -> None:
    a = np.array([[0, 3, 1, 2], [3, 0, 5, 0.5], [1, 5, 0, 4], [2, 0.5, 4, 0]], dtype=float)
    s = sparsify(a, neighbours=1)  # 0→1, 1→2, 2→1, 3→2
    expect = np.zeros_like(a)
    for i, j in [(0, 1), (1, 2), (2, 3)]:
        expect[i, j] = expect[j, i] = a[i, j]
    assert np.array_equal(s, expect)


def test_cnn_pooled_weights_are_the_gradient_of_fc_through_the_max_pool() -> None:
    torch.manual_seed(0)
    net = DigitsCNN(VisionConfig(arch="cnn", channels=2, width=5))
    w = site_weights(net, "conv.1.post", "fc.post")
    assert w is not None and w.shape == (5, 2 * 64)
    conv1 = torch.randn(1, 2, 8, 8, requires_grad=True)
    pre = net.fc["linear"](torch.nn.functional.max_pool2d(conv1, 2).flatten(1))  # fc pre-activation
    (grad,) = torch.autograd.grad(pre[0, 3], conv1)
    winners = grad.flatten() != 0  # the unit that wins each pool cell carries the weight
    assert np.allclose(w[3][winners.numpy()], grad.flatten()[winners].numpy())


def test_module_set_dict_and_drawing(tmp_path) -> None:
    found = find_modules(_graph(_two_halves(np.random.default_rng(2))), k=2)
    d = json.loads(json.dumps(found.to_dict()))
    ids = [n["id"] for n in d["graph"]["nodes"]]
    assert sorted(u for m in d["modules"] for u in m["units"]) == sorted(ids)
    assert {e["source"] for e in d["graph"]["edges"]} <= set(ids) and d["graph"]["edges"]
    assert d["k"] == 2 and d["modularity"] > d["baseline_modularity"]
    png = plot_modules(found, tmp_path / "m.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bad_choices_are_user_errors() -> None:
    g = _graph(_two_halves(np.random.default_rng(3)))
    for k in (1, 2 * HALF):
        with pytest.raises(UserError, match="number of modules"):
            find_modules(g, k=k)
    net = DigitsMLP(VisionConfig(width=4, n_layers=2))
    with pytest.raises(UserError, match="mix"):
        unit_graph("m", net, ["layers.0.post"], [4], mix=1.5)
