"""Modules of a model: its unit graph (``buildout.graph``) cut into groups by spectral clustering.

The number of modules ``k`` is given or chosen as the one with the best Newman modularity Q over ``K_RANGE``.
Q is reported beside the baseline: the mean Q of random groupings with the same module sizes (a grouping that
found nothing scores about that; a real module structure scores well above it).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
from networkx.algorithms.community import modularity as nx_modularity
from sklearn.cluster import SpectralClustering

from mirrorneuron.buildout.graph import UnitGraph
from mirrorneuron.types import UserError

K_RANGE = range(2, 9)
BASELINE_DRAWS = 20
EDGES_PER_NODE = 3  # strongest links per unit kept in ``to_dict`` and the drawing


@dataclass(frozen=True)
class Module:
    index: int
    units: list[str]  # unit ids
    nodes: list[int]  # positions in the graph's node list
    internal: float  # affinity summed over links inside the module
    external: float  # affinity summed over links from the module to the rest

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "size": len(self.units),
            "units": self.units,
            "internal_weight": round(self.internal, 6),
            "external_weight": round(self.external, 6),
        }


@dataclass(frozen=True)
class ModuleSet:
    model: str
    sites: list[str]
    modules: list[Module]
    modularity: float
    baseline_modularity: float
    graph: UnitGraph
    labels: np.ndarray = field(repr=False)  # module of each graph node

    def edges(self, per_node: int = EDGES_PER_NODE) -> list[tuple[int, int, float]]:
        """Each unit's ``per_node`` strongest links, (a, b, affinity) with a < b, strongest first."""
        a = self.graph.affinity
        picked: set[tuple[int, int]] = set()
        for i, row in enumerate(a):
            for j in np.argsort(-row, kind="stable")[:per_node]:
                if row[j] > 0:
                    picked.add((min(i, int(j)), max(i, int(j))))
        return sorted(((i, j, float(a[i, j])) for i, j in picked), key=lambda e: (-e[2], e[0], e[1]))

    def to_dict(self) -> dict[str, Any]:
        g = self.graph
        return {
            "model": self.model,
            "sites": self.sites,
            "k": len(self.modules),
            "mix": g.mix,
            "modularity": round(self.modularity, 6),
            "baseline_modularity": round(self.baseline_modularity, 6),
            "modules": [m.to_dict() for m in self.modules],
            "graph": {
                "nodes": [
                    {"id": g.unit_id(n), "site": s, "index": i, "module": int(self.labels[n])}
                    for n, (s, i) in enumerate(g.nodes)
                ],
                "edges": [
                    {"source": g.unit_id(a), "target": g.unit_id(b), "weight": round(w, 6)} for a, b, w in self.edges()
                ],
            },
        }


def _nx_graph(affinity: np.ndarray) -> nx.Graph:
    return nx.from_numpy_array(np.asarray(affinity, dtype=np.float64))


def _groups(labels: np.ndarray) -> list[set[int]]:
    return [set(np.flatnonzero(labels == c).tolist()) for c in np.unique(labels)]


def modularity(affinity: np.ndarray | nx.Graph, labels: np.ndarray) -> float:
    """Newman's weighted modularity Q of the grouping ``labels`` (a module number per node)."""
    g = affinity if isinstance(affinity, nx.Graph) else _nx_graph(affinity)
    return float(nx_modularity(g, _groups(np.asarray(labels)), weight="weight"))


def baseline_modularity(graph: nx.Graph, labels: np.ndarray, draws: int = BASELINE_DRAWS, seed: int = 0) -> float:
    """Mean Q of ``draws`` random groupings with the same module sizes as ``labels``."""
    rng = np.random.default_rng(seed)
    return float(np.mean([modularity(graph, rng.permutation(labels)) for _ in range(draws)]))


def spectral_labels(affinity: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """Spectral clustering of a precomputed affinity into ``k`` groups, numbered in order of first node."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "graph is not fully connected": fine for modules
        raw = SpectralClustering(
            n_clusters=k, affinity="precomputed", assign_labels="cluster_qr", random_state=seed
        ).fit_predict(np.asarray(affinity, dtype=np.float64))
    order = {c: n for n, c in enumerate(dict.fromkeys(raw.tolist()))}
    return np.array([order[c] for c in raw.tolist()], dtype=np.int64)


def find_modules(
    graph: UnitGraph,
    k: int | None = None,
    k_range: Iterable[int] = K_RANGE,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> ModuleSet:
    """Group ``graph``'s units into ``k`` modules (or the best-Q ``k`` of ``k_range``); ``progress(done, total)``
    after each clustering tried."""
    n = len(graph.nodes)
    candidates = [k] if k is not None else [c for c in k_range if 2 <= c < n]
    if not candidates or any(c < 2 or c >= n for c in candidates):
        raise UserError(f"the number of modules must be between 2 and {n - 1} (the graph has {n} units)")
    g = _nx_graph(graph.affinity)
    scored = []
    for done, c in enumerate(candidates, 1):
        labels = spectral_labels(graph.affinity, c, seed)
        scored.append((modularity(g, labels), labels))
        if progress:
            progress(done, len(candidates))
    q, labels = max(scored, key=lambda t: t[0])  # ties: the smaller k (max keeps the first)
    a = graph.affinity
    modules = []
    for c in range(int(labels.max()) + 1):
        inside = labels == c
        members = np.flatnonzero(inside)
        modules.append(
            Module(
                c,
                [graph.unit_id(int(m)) for m in members],
                members.tolist(),
                float(a[np.ix_(inside, inside)].sum() / 2),
                float(a[np.ix_(inside, ~inside)].sum()),
            )
        )
    return ModuleSet(graph.model, graph.sites, modules, q, baseline_modularity(g, labels, seed=seed), graph, labels)


def plot_modules(modules: ModuleSet, path: Path | str) -> Path:
    """A PNG of the unit graph: one column per site, units stacked by module and coloured by it, with each
    unit's strongest links drawn faintly."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    g = modules.graph
    xy = np.zeros((len(g.nodes), 2))
    for col, site in enumerate(g.sites):
        members = [n for n, (s, _) in enumerate(g.nodes) if s == site]
        members.sort(key=lambda n: (int(modules.labels[n]), g.nodes[n][1]))
        for row, n in enumerate(members):
            xy[n] = (col, 1.0 - row / max(1, len(members) - 1))
    fig, ax = plt.subplots(figsize=(2.5 + 2.2 * len(g.sites), 6))
    edges = modules.edges()
    top = max((w for *_, w in edges), default=1.0)
    for a, b, w in edges:
        ax.plot(*zip(xy[a], xy[b], strict=True), color="0.5", lw=0.4, alpha=0.15 + 0.5 * w / top, zorder=1)
    cmap = plt.get_cmap("tab10" if len(modules.modules) <= 10 else "tab20")
    for m in modules.modules:
        pts = xy[m.nodes]
        ax.scatter(
            pts[:, 0],
            pts[:, 1],
            s=12,
            color=cmap(m.index % cmap.N),
            label=f"module {m.index} ({len(m.units)})",
            zorder=2,
        )
    ax.set_xticks(range(len(g.sites)), g.sites)
    ax.set_yticks([])
    ax.set_xlim(-0.5, len(g.sites) - 0.5)
    ax.set_title(
        f"{modules.model}: {len(modules.modules)} modules, modularity Q = {modules.modularity:.3f} "
        f"(random grouping {modules.baseline_modularity:.3f})",
        fontsize=9,
    )
    ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=7, frameon=False)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return out
