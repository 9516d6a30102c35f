"""YAML for untrusted files (studies, sweeps): the safe loader, plus limits on size and on what aliases expand to.

``yaml.safe_load`` builds a "billion laughs" document cheaply (aliases share objects) but anything that walks it
afterwards (validation, JSON) visits every path: 9 aliases on 9 levels are 10⁹ nodes. Refused here instead."""

from __future__ import annotations

from typing import Any

import yaml

MAX_BYTES = 1_000_000
MAX_NODES = 100_000  # scalars + collections after alias expansion
MAX_FLOW_DEPTH = 200  # PyYAML parses deep [[[...]]] slowly (seconds for 10⁴) before it fails: refuse up front


class TooLarge(yaml.YAMLError):
    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem


def _expanded(node: yaml.Node, memo: dict[int, int]) -> int:
    if id(node) in memo:
        return memo[id(node)]
    memo[id(node)] = 1  # a cycle counts once (the safe loader allows recursive aliases)
    size = 1
    if isinstance(node, yaml.SequenceNode):
        size += sum(_expanded(n, memo) for n in node.value)
    elif isinstance(node, yaml.MappingNode):
        size += sum(_expanded(k, memo) + _expanded(v, memo) for k, v in node.value)
    memo[id(node)] = min(size, MAX_NODES + 1)
    return memo[id(node)]


class _Loader(yaml.SafeLoader):
    def compose_document(self) -> Any:
        node = super().compose_document()
        if node is not None and _expanded(node, {}) > MAX_NODES:
            raise TooLarge(f"document expands to more than {MAX_NODES} nodes (aliases nested too deep?)")
        return node


def load(text: str) -> Any:
    """``yaml.safe_load`` within the limits; a ``yaml.YAMLError`` (``TooLarge``) otherwise."""
    if len(text) > MAX_BYTES:
        raise TooLarge(f"document is larger than {MAX_BYTES} bytes")
    depth = deepest = 0
    for ch in text:  # brackets inside quoted strings count too: harmless at this generous limit
        if ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    if deepest > MAX_FLOW_DEPTH:
        raise TooLarge(f"document is nested deeper than {MAX_FLOW_DEPTH} levels")
    try:
        return yaml.load(text, Loader=_Loader)
    except RecursionError:
        raise TooLarge("document is nested too deeply") from None
