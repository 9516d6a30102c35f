"""The package graph: no import cycles, and the import-linter contracts in pyproject.toml hold and bite.

Each guard is also run on a graph with a planted bad import, to show it would catch one.
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path
from typing import Any

import grimp
import pytest
from importlinter.configuration import configure
from importlinter.contracts.forbidden import ForbiddenContract
from importlinter.contracts.protected import ProtectedContract
from importlinter.domain.contract import Contract

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"
configure()  # what the lint-imports command does first (a timer and readers the contracts use)
CONTRACT_TYPES: dict[str, type[Contract]] = {"forbidden": ForbiddenContract, "protected": ProtectedContract}


def graph() -> grimp.ImportGraph:
    # TYPE_CHECKING-only imports never run, so they cannot make a cycle at import time.
    return grimp.build_graph(
        "mirrorneuron", include_external_packages=True, exclude_type_checking_imports=True, cache_dir=None
    )


def cycles(g: grimp.ImportGraph) -> list[list[str]]:
    """The strongly connected components of more than one module (each holds at least one import cycle)."""
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    ours = sorted(m for m in g.modules if m == "mirrorneuron" or m.startswith("mirrorneuron."))
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's algorithm
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(g.find_modules_directly_imported_by(v)):
            if not w.startswith("mirrorneuron"):
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for m in ours:
        if m not in index:
            visit(m)
    return found


def test_the_package_graph_has_no_import_cycle() -> None:
    assert cycles(graph()) == []


def test_a_planted_cycle_is_found() -> None:
    g = graph()
    # units.probes → units.data already; planting data → probes closes a loop (the old open ↔ probes shape)
    g.add_import(importer="mirrorneuron.units.data", imported="mirrorneuron.units.probes")
    assert ["mirrorneuron.units.data", "mirrorneuron.units.probes"] in cycles(g)
    g = graph()
    g.add_import(importer="mirrorneuron.types", imported="mirrorneuron.web.unitcache")  # a long chain back
    assert any("mirrorneuron.types" in c and "mirrorneuron.web.unitcache" in c for c in cycles(g))


def squashed(g: grimp.ImportGraph) -> grimp.ImportGraph:
    """``g`` with every subpackage of mirrorneuron squashed into one node (the package-level graph)."""
    for m in sorted(g.find_children("mirrorneuron")):
        if g.find_children(m):
            g.squash_module(m)
    return g


def test_the_packages_do_not_import_each_other_in_a_circle() -> None:
    assert cycles(squashed(graph())) == []
    g = graph()
    # no module cycle (units.poly imports nothing of harvest), but a package cycle (units → harvest already)
    g.add_import(importer="mirrorneuron.harvest.stats", imported="mirrorneuron.units.poly")
    assert cycles(g) == [] and cycles(squashed(g)) == [["mirrorneuron.harvest", "mirrorneuron.units"]]


def contracts() -> dict[str, Contract]:
    config = tomllib.loads(PYPROJECT.read_text())["tool"]["importlinter"]
    session = {"root_packages": [config["root_package"]], "include_external_packages": True}
    out: dict[str, Contract] = {}
    for raw in config["contracts"]:
        options: dict[str, Any] = {k: v for k, v in raw.items() if k not in ("name", "type")}
        out[raw["name"]] = CONTRACT_TYPES[raw["type"]](raw["name"], session, options)
    return out


def _kept(name_part: str, g: grimp.ImportGraph) -> bool:
    (contract,) = [c for n, c in contracts().items() if name_part in n]
    return contract.check(g, verbose=False).kept


def test_every_contract_is_kept() -> None:
    g = graph()
    broken = [n for n, c in contracts().items() if not c.check(g, verbose=False).kept]
    assert broken == []


@pytest.mark.parametrize(
    ("contract", "importer", "imported"),
    [
        # corpus is not forbidden, but it imports config: game → corpus → config is an indirect import, which
        # the game contract must not allow
        ("game core is pure", "mirrorneuron.game.levels", "mirrorneuron.corpus"),
        ("game core is pure", "mirrorneuron.game.rounds", "mirrorneuron.web.unitcache"),
        ("players", "mirrorneuron.players.simple", "mirrorneuron.store.repo"),
        ("players", "mirrorneuron.players.render", "mirrorneuron.cli_units"),
        ("cli_* modules", "mirrorneuron.web.app", "mirrorneuron.cli_models"),
        ("no library package imports the CLI", "mirrorneuron.web.app", "mirrorneuron.cli"),
        ("no library package imports the CLI", "mirrorneuron.corpus", "mirrorneuron.cli"),
    ],
)
def test_a_planted_import_breaks_its_contract(contract: str, importer: str, imported: str) -> None:
    g = graph()
    assert _kept(contract, g)
    g.add_import(importer=importer, imported=imported)
    assert not _kept(contract, g)


def test_every_cli_module_is_protected() -> None:
    """import-linter has no ``cli_*`` wildcard, so a new CLI module must be named in the contract."""
    cli_modules = {m for m in graph().find_children("mirrorneuron") if m.startswith("mirrorneuron.cli_")}
    (protected,) = [c for c in tomllib.loads(PYPROJECT.read_text())["tool"]["importlinter"]["contracts"]
                    if c["type"] == "protected"]  # fmt: skip
    assert cli_modules and cli_modules == set(protected["protected_modules"])
