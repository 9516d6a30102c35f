"""Evaluate a parsed rule over a batch (numpy only).

Text: ``tokens`` is an ``(n, T)`` array of token strings and the value has shape ``(n, T)`` (one per target
position). Images: ``pixels`` is ``(n, H, W)`` and the value has shape ``(n,)``. Out-of-window neighbours
(``prev`` of the first token) are the empty string. ``x / 0`` is 0.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from mirrorneuron.buildout.rules import syntax as s
from mirrorneuron.buildout.rules.syntax import RuleError

Lookup = Callable[[str], np.ndarray]


def _no_lookup(unit_id: str) -> np.ndarray:
    raise KeyError(unit_id)


@dataclass
class RuleInputs:
    """What a rule reads: token strings (text) or images, and other units' values of the same shape.

    ``unit`` / ``imitation`` return the values of another unit on the same batch (shape :attr:`shape`); they
    may raise :class:`RuleError` (e.g. a cycle) or KeyError (unknown unit), which is reported at the call.
    """

    tokens: np.ndarray | None = None
    pixels: np.ndarray | None = None
    unit: Lookup = _no_lookup
    imitation: Lookup = _no_lookup

    @property
    def shape(self) -> tuple[int, ...]:
        if self.tokens is not None:
            return tuple(self.tokens.shape)
        if self.pixels is not None:
            return (int(self.pixels.shape[0]),)
        raise ValueError("RuleInputs needs tokens or pixels")


class _Eval:
    def __init__(self, inputs: RuleInputs, source: str | None) -> None:
        self.x = inputs
        self.shape = inputs.shape
        self.lines = source.splitlines() if source is not None else None

    def error(self, node: s.Node, message: str) -> RuleError:
        text = self.lines[node.line - 1] if self.lines and node.line <= len(self.lines) else None
        return RuleError(message, node.line, node.col, text)

    def full(self, v: float) -> np.ndarray:
        return np.full(self.shape, v, dtype=np.float64)

    # --- numbers -----------------------------------------------------------------------------------
    def expr(self, n: s.Expr) -> np.ndarray:
        if isinstance(n, s.Num):
            return self.full(n.value)
        if isinstance(n, s.Pos):
            return np.broadcast_to(np.arange(self.shape[1], dtype=np.float64), self.shape).copy() \
                if len(self.shape) == 2 else self.full(0.0)
        if isinstance(n, s.UnitValue | s.ImitationValue):
            return self._lookup(n)
        if isinstance(n, s.Pixels):
            return self._pixels(n)
        if isinstance(n, s.Neg):
            return -self.expr(n.operand)
        if isinstance(n, s.BinOp):
            a, b = self.expr(n.left), self.expr(n.right)
            if n.op == "+":
                return a + b
            if n.op == "-":
                return a - b
            if n.op == "*":
                return a * b
            safe = np.where(b == 0, 1.0, b)
            return np.where(b == 0, 0.0, a / safe)
        if isinstance(n, s.Call):
            args = [self.expr(a) for a in n.args]
            if n.fn == "relu":
                return np.maximum(args[0], 0.0)
            if n.fn == "abs":
                return np.abs(args[0])
            return np.minimum.reduce(args) if n.fn == "min" else np.maximum.reduce(args)
        raise TypeError(f"not an expression: {n!r}")

    def _lookup(self, n: s.UnitValue | s.ImitationValue) -> np.ndarray:
        what = "unit" if isinstance(n, s.UnitValue) else "imitation"
        fn = self.x.unit if what == "unit" else self.x.imitation
        try:
            v = np.asarray(fn(n.unit_id), dtype=np.float64)
        except RuleError as e:
            raise self.error(n, e.reason) from None
        except KeyError:
            raise self.error(n, f"{what}({n.unit_id!r}) is not available here") from None
        if v.shape != self.shape:
            raise self.error(n, f"{what}({n.unit_id!r}) has shape {v.shape}, this unit {self.shape}: "
                                "a positional unit cannot be combined with a per-image one")
        return v

    def _pixels(self, n: s.Pixels) -> np.ndarray:
        px = self.x.pixels
        if px is None:
            raise self.error(n, "pixels[…] needs an image model; this unit's model reads text")
        h, w = px.shape[-2], px.shape[-1]
        if n.r1 > h or n.c1 > w:
            raise self.error(n, f"pixels[{n.r0}:{n.r1}, {n.c0}:{n.c1}] is outside the {h}×{w} image")
        region = px[..., n.r0 : n.r1, n.c0 : n.c1]
        return region.reshape(px.shape[0], -1).mean(axis=1).astype(np.float64)

    # --- conditions --------------------------------------------------------------------------------
    def _shifted(self, n: s.Node, offset: int) -> np.ndarray:
        toks = self.x.tokens
        if toks is None:
            raise self.error(n, "token conditions need a text model; this unit's model reads images")
        out = np.full(toks.shape, "", dtype=object)
        t = toks.shape[1]
        if abs(offset) < t:
            if offset >= 0:
                out[:, : t - offset] = toks[:, offset:]
            else:
                out[:, -offset:] = toks[:, : t + offset]
        return out

    def cond(self, c: s.Condition) -> np.ndarray:
        if isinstance(c, s.TokenIn):
            hit = np.isin(self._shifted(c, c.offset), np.array(c.tokens, dtype=object))
            return ~hit if c.negate else hit
        if isinstance(c, s.TokenMatch):
            toks = self._shifted(c, c.offset)
            uniq, inverse = np.unique(toks.astype(str), return_inverse=True)
            rx = re.compile(c.pattern)
            return np.array([rx.search(u) is not None for u in uniq], dtype=bool)[inverse].reshape(toks.shape)
        if isinstance(c, s.Compare):
            a, b = self.expr(c.left), self.expr(c.right)
            ops = {"<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal,
                   "==": np.equal, "!=": np.not_equal}
            return np.asarray(ops[c.op](a, b), dtype=bool)
        if isinstance(c, s.BoolOp):
            a, b = self.cond(c.left), self.cond(c.right)
            return (a & b) if c.op == "and" else (a | b)
        if isinstance(c, s.Not):
            return ~self.cond(c.operand)
        raise TypeError(f"not a condition: {c!r}")


def evaluate(rule: s.Rule, inputs: RuleInputs, source: str | None = None) -> np.ndarray:
    """The rule's value on every target of the batch (float32; shape ``inputs.shape``). ``source`` (the rule's
    text) adds the offending line to a RuleError's message."""
    ev = _Eval(inputs, source)
    total = ev.full(0.0)
    fired = np.zeros(ev.shape, dtype=bool)
    for term in rule.terms:
        value = ev.expr(term.value)
        if term.when is None:
            total += value
        else:
            hit = ev.cond(term.when)
            total += np.where(hit, value, 0.0)
            fired |= hit
    if rule.default is not None:
        total += np.where(fired, 0.0, ev.expr(rule.default.value))
    return total.astype(np.float32)
