"""The rule language's syntax tree: small frozen dataclasses, a JSON form, and :class:`RuleError`.

Every node keeps the ``line`` and ``col`` (1-based) where it starts, so evaluation errors point at the source
too. ``to_json``/``from_json`` round-trip a whole :class:`Rule` (the store keeps the parsed form as JSON).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, is_dataclass
from typing import Any

from mirrorneuron.types import UserError


class RuleError(UserError):
    """A rule that cannot be parsed or evaluated: ``line L, col C: reason`` (``caret`` shows where)."""

    def __init__(self, message: str, line: int, col: int, source_line: str | None = None) -> None:
        self.line, self.col, self.reason = line, col, message
        # The message stays one line; ``caret`` is the offending line with a ^ under the column, for display.
        self.caret = "" if source_line is None else f"  {source_line}\n  {' ' * (col - 1)}^"
        super().__init__(f"line {line}, col {col}: {message}")


@dataclass(frozen=True)
class Node:
    line: int
    col: int


# --- numeric expressions ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Num(Node):
    value: float


@dataclass(frozen=True)
class Pos(Node):
    """The target token's position in its window (0-based); 0 for images."""


@dataclass(frozen=True)
class UnitValue(Node):
    """``unit("ID")``: the true activation of another unit on the same input (and position)."""

    unit_id: str


@dataclass(frozen=True)
class ImitationValue(Node):
    """``imitation("ID")``: the player's latest imitation rule of another unit, evaluated on the same input."""

    unit_id: str


@dataclass(frozen=True)
class Pixels(Node):
    """``pixels[r0:r1, c0:c1]``: the mean intensity of an image region (rows r0..r1-1, columns c0..c1-1)."""

    r0: int
    r1: int
    c0: int
    c1: int


@dataclass(frozen=True)
class BinOp(Node):
    op: str  # + - * /
    left: Expr
    right: Expr


@dataclass(frozen=True)
class Neg(Node):
    operand: Expr


@dataclass(frozen=True)
class Call(Node):
    fn: str  # relu, abs, min, max
    args: tuple[Expr, ...]


Expr = Num | Pos | UnitValue | ImitationValue | Pixels | BinOp | Neg | Call


# --- conditions ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TokenIn(Node):
    """The token at ``offset`` (0 = target, -1 = prev, +1 = next) is one of ``tokens`` (negated: not one)."""

    offset: int
    tokens: tuple[str, ...]
    negate: bool = False


@dataclass(frozen=True)
class TokenMatch(Node):
    """The token at ``offset`` matches the regular expression ``pattern`` (``re.search``)."""

    offset: int
    pattern: str


@dataclass(frozen=True)
class Compare(Node):
    op: str  # < <= > >= == !=
    left: Expr
    right: Expr


@dataclass(frozen=True)
class BoolOp(Node):
    op: str  # and, or
    left: Condition
    right: Condition


@dataclass(frozen=True)
class Not(Node):
    operand: Condition


Condition = TokenIn | TokenMatch | Compare | BoolOp | Not


# --- lines -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Term(Node):
    """One line's contribution: ``value`` where ``when`` holds (always when None)."""

    when: Condition | None
    value: Expr


@dataclass(frozen=True)
class Rule:
    """A parsed rule. Its value = the sum of its terms that hold; where no conditional term holds, ``default``
    (the ``else`` line, 0 without one) is added instead."""

    terms: tuple[Term, ...]
    default: Term | None = None

    def references(self) -> tuple[tuple[str, str], ...]:
        """Every ``("unit" | "imitation", unit id)`` the rule reads, in source order, without repeats."""
        out: dict[tuple[str, str], None] = {}

        def walk(n: Any) -> None:
            if isinstance(n, UnitValue):
                out[("unit", n.unit_id)] = None
            elif isinstance(n, ImitationValue):
                out[("imitation", n.unit_id)] = None
            elif is_dataclass(n):
                for f in fields(n):
                    walk(getattr(n, f.name))
            elif isinstance(n, tuple):
                for x in n:
                    walk(x)

        lines = self.terms if self.default is None else (*self.terms, self.default)
        walk(tuple(sorted(lines, key=lambda t: (t.line, t.col))))
        return tuple(out)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = _dump(self)
        return out


_NODES: dict[str, type] = {
    c.__name__: c
    for c in (Num, Pos, UnitValue, ImitationValue, Pixels, BinOp, Neg, Call, TokenIn, TokenMatch, Compare,
              BoolOp, Not, Term, Rule)
}


def _dump(x: Any) -> Any:
    if is_dataclass(x) and not isinstance(x, type):
        return {"node": type(x).__name__, **{f.name: _dump(getattr(x, f.name)) for f in fields(x)}}
    if isinstance(x, tuple):
        return [_dump(v) for v in x]
    return x


def _load(x: Any) -> Any:
    if isinstance(x, dict):
        cls = _NODES.get(str(x.get("node")))
        if cls is None:
            raise ValueError(f"not a rule node: {x.get('node')!r}")
        return cls(**{k: _load(v) for k, v in x.items() if k != "node"})
    if isinstance(x, list):
        return tuple(_load(v) for v in x)
    return x


def rule_from_json(data: dict[str, Any]) -> Rule:
    """The :class:`Rule` of ``Rule.to_json()`` (ValueError for anything else)."""
    rule = _load(data)
    if not isinstance(rule, Rule):
        raise ValueError("not a rule")
    return rule
