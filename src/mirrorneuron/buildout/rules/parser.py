"""A recursive-descent parser of the rule language (grammar: docs/imitations.md). Never ``eval``.

Each line is one statement::

    token "the" "a" -> 2.5, "cat" -> 3     token tables (several tokens per entry, several entries per line)
    regex /^[A-Z]/ -> 1.0                  a regex on the target token
    if prev == "of" and pos < 3 then +0.5  a condition on tokens, position or numbers
    else 0                                 the value where no conditional line holds (at most one)
    0.8 * unit("m/site/neuron/1") - 0.2    an unconditional term (pixels[…], unit(…), imitation(…), pos)
"""

from __future__ import annotations

from collections.abc import Callable

from mirrorneuron.buildout.rules import syntax as s
from mirrorneuron.buildout.rules.lexer import Tok, tokenize
from mirrorneuron.buildout.rules.syntax import RuleError
from mirrorneuron.types import UnitRef, UserError

MAX_SOURCE = 20_000  # characters
FUNCTIONS = {"relu": (1, 1), "abs": (1, 1), "min": (2, 8), "max": (2, 8)}  # name → (min, max) arguments
TEXT_REFS = {"tok": 0, "prev": -1, "next": 1}
COMPARE = ("<", "<=", ">", ">=", "==", "!=")
KEYWORDS = ("token", "regex", "if", "then", "else", "and", "or", "not", "in", "pos", "unit", "imitation", "pixels",
            *TEXT_REFS, *FUNCTIONS)


class _Line:
    def __init__(self, text: str, lineno: int) -> None:
        self.text, self.lineno = text, lineno
        self.toks = tokenize(text, lineno)
        self.i = 0

    # --- cursor ------------------------------------------------------------------------------------
    @property
    def tok(self) -> Tok:
        return self.toks[self.i]

    def error(self, message: str, tok: Tok | None = None) -> RuleError:
        return RuleError(message, self.lineno, (tok or self.tok).col, self.text)

    def at(self, text: str) -> bool:
        return self.tok.kind in ("op", "name") and self.tok.text == text

    def take(self) -> Tok:
        t = self.tok
        self.i += 1
        return t

    def expect(self, text: str, what: str | None = None) -> Tok:
        if not self.at(text):
            raise self.error(f"expected {what or repr(text)}, found {self._found()}")
        return self.take()

    def expect_kind(self, kind: str, what: str) -> Tok:
        if self.tok.kind != kind:
            raise self.error(f"expected {what}, found {self._found()}")
        return self.take()

    def _found(self) -> str:
        return self.tok.text if self.tok.kind == "end" else repr(self.tok.text)

    def end(self) -> None:
        if self.tok.kind != "end":
            raise self.error(f"unexpected {self._found()} after a complete statement")

    def where(self, tok: Tok) -> tuple[int, int]:
        return self.lineno, tok.col

    # --- statements --------------------------------------------------------------------------------
    def statement(self) -> tuple[str, list[s.Term]]:
        first = self.tok
        if self.at("token"):
            self.take()
            terms = [self._token_entry()]
            while self.at(","):
                self.take()
                terms.append(self._token_entry())
            return "terms", terms
        if self.at("regex"):
            self.take()
            rx = self.expect_kind("regex", "a /regex/")
            self.expect("->", "'->' and a value")
            match = s.TokenMatch(*self.where(rx), 0, str(rx.value))
            return "terms", [s.Term(*self.where(first), match, self.expr())]
        if self.at("if"):
            self.take()
            cond = self.condition()
            self.expect("then", "'then' and a value")
            return "terms", [s.Term(*self.where(first), cond, self.expr())]
        if self.at("else"):
            self.take()
            return "else", [s.Term(*self.where(first), None, self.expr())]
        if self.at("then"):
            raise self.error("'then' without 'if'")
        return "terms", [s.Term(*self.where(first), None, self.expr())]

    def _token_entry(self) -> s.Term:
        first = self.expect_kind("string", 'a token in quotes, e.g. "the"')
        tokens = [str(first.value)]
        while self.tok.kind == "string":
            tokens.append(str(self.take().value))
        self.expect("->", "'->' and a value (or another quoted token)")
        return s.Term(*self.where(first), s.TokenIn(*self.where(first), 0, tuple(tokens)), self.expr())

    # --- conditions --------------------------------------------------------------------------------
    def condition(self) -> s.Condition:
        return self._bool("or", lambda: self._bool("and", self._not))

    def _bool(self, op: str, operand: Callable[[], s.Condition]) -> s.Condition:
        left = operand()
        while self.at(op):
            t = self.take()
            left = s.BoolOp(*self.where(t), op, left, operand())
        return left

    def _not(self) -> s.Condition:
        if self.at("not"):
            t = self.take()
            return s.Not(*self.where(t), self._not())
        return self._atom()

    def _atom(self) -> s.Condition:
        t = self.tok
        if t.kind == "name" and t.text in TEXT_REFS:
            return self._text_condition()
        left = self.expr()
        if not (self.tok.kind == "op" and self.tok.text in COMPARE):
            raise self.error(f"expected a comparison ({' '.join(COMPARE)}) after the number, found {self._found()}")
        op = self.take().text
        return s.Compare(*self.where(t), op, left, self.expr())

    def _text_condition(self) -> s.Condition:
        t = self.take()
        offset = TEXT_REFS[t.text]
        if t.text == "tok" and self.at("["):
            self.take()
            sign = -1 if self.at("-") else 1
            if self.at("-") or self.at("+"):
                self.take()
            n = self.expect_kind("number", "a whole number offset, e.g. tok[-2]")
            if not float(n.value or 0).is_integer():
                raise self.error("a token offset must be a whole number", n)
            offset = sign * int(float(n.value))  # type: ignore[arg-type]
            self.expect("]")
        if self.at("~"):
            self.take()
            rx = self.expect_kind("regex", "a /regex/ after ~")
            return s.TokenMatch(*self.where(t), offset, str(rx.value))
        if self.at("==") or self.at("!="):
            negate = self.take().text == "!="
            lit = self.expect_kind("string", 'a token in quotes, e.g. "of"')
            return s.TokenIn(*self.where(t), offset, (str(lit.value),), negate)
        negate = False
        if self.at("not"):
            self.take()
            negate = True
        if self.at("in"):
            self.take()
            self.expect("(", "'(' and a list of quoted tokens")
            items = [str(self.expect_kind("string", "a token in quotes").value)]
            while self.at(","):
                self.take()
                items.append(str(self.expect_kind("string", "a token in quotes").value))
            self.expect(")")
            return s.TokenIn(*self.where(t), offset, tuple(items), negate)
        raise self.error(f"expected == \"…\", != \"…\", in (…) or ~ /regex/ after {t.text}, found {self._found()}")

    # --- numeric expressions -----------------------------------------------------------------------
    def expr(self) -> s.Expr:
        left = self._product()
        while self.at("+") or self.at("-"):
            t = self.take()
            left = s.BinOp(*self.where(t), t.text, left, self._product())
        return left

    def _product(self) -> s.Expr:
        left = self._unary()
        while self.at("*") or self.at("/"):
            t = self.take()
            left = s.BinOp(*self.where(t), t.text, left, self._unary())
        return left

    def _unary(self) -> s.Expr:
        if self.at("-"):
            t = self.take()
            return s.Neg(*self.where(t), self._unary())
        if self.at("+"):
            self.take()
            return self._unary()
        return self._primary()

    def _primary(self) -> s.Expr:
        t = self.tok
        if t.kind == "number":
            self.take()
            return s.Num(*self.where(t), float(t.value))  # type: ignore[arg-type]
        if self.at("("):
            self.take()
            inner = self.expr()
            self.expect(")", "')'")
            return inner
        if t.kind == "name":
            return self._name()
        raise self.error(f"expected a number, found {self._found()}")

    def _name(self) -> s.Expr:
        t = self.take()
        where = self.where(t)
        if t.text == "pos":
            return s.Pos(*where)
        if t.text in ("unit", "imitation"):
            self.expect("(", f"'(' after {t.text}")
            lit = self.expect_kind("string", 'a unit id in quotes, e.g. "tiny-gelu/blocks.0.mlp.post/neuron/17"')
            try:
                UnitRef.parse(str(lit.value))
            except UserError as e:
                raise self.error(str(e), lit) from None
            self.expect(")", "')'")
            cls = s.UnitValue if t.text == "unit" else s.ImitationValue
            return cls(*where, str(lit.value))
        if t.text == "pixels":
            self.expect("[", "'[' after pixels, e.g. pixels[0:4, 0:8]")
            r0, r1 = self._slice()
            self.expect(",", "',' between the row and column ranges")
            c0, c1 = self._slice()
            self.expect("]", "']'")
            return s.Pixels(*where, r0, r1, c0, c1)
        if t.text in FUNCTIONS:
            return self._call(t)
        if t.text in TEXT_REFS:
            raise self.error(f"{t.text} is a token, not a number: compare it (e.g. {t.text} == \"of\") after 'if'", t)
        if t.text in KEYWORDS:
            raise self.error(f"unexpected {t.text!r}", t)
        raise self.error(f"unknown name {t.text!r}; numbers come from pos, unit(…), imitation(…), pixels[…], "
                         f"{', '.join(FUNCTIONS)}", t)

    def _slice(self) -> tuple[int, int]:
        a = self._whole()
        self.expect(":", "':' in a range like 0:4")
        start = self.tok
        b = self._whole()
        if b <= a:
            raise self.error(f"empty range {a}:{b}: the end must be larger than the start", start)
        return a, b

    def _whole(self) -> int:
        n = self.expect_kind("number", "a whole number")
        if not float(n.value).is_integer():  # type: ignore[arg-type]
            raise self.error("pixel ranges take whole numbers", n)
        return int(float(n.value))  # type: ignore[arg-type]

    def _call(self, t: Tok) -> s.Expr:
        self.expect("(", f"'(' after {t.text}")
        args = [self.expr()]
        while self.at(","):
            self.take()
            args.append(self.expr())
        self.expect(")", "')'")
        lo, hi = FUNCTIONS[t.text]
        if not lo <= len(args) <= hi:
            want = str(lo) if lo == hi else f"{lo} to {hi}"
            raise self.error(f"{t.text} takes {want} argument(s), got {len(args)}", t)
        return s.Call(*self.where(t), t.text, tuple(args))


def parse_rule(source: str) -> s.Rule:
    """The :class:`~mirrorneuron.buildout.rules.syntax.Rule` of ``source``; RuleError at the first mistake."""
    if len(source) > MAX_SOURCE:
        raise RuleError(f"the rule is longer than {MAX_SOURCE} characters", 1, 1)
    terms: list[s.Term] = []
    default: s.Term | None = None
    for lineno, text in enumerate(source.splitlines(), start=1):
        line = _Line(text, lineno)
        if line.tok.kind == "end":
            continue
        kind, got = line.statement()
        line.end()
        if kind == "else":
            if default is not None:
                raise line.error(f"a second 'else' (the first is on line {default.line})", line.toks[0])
            default = got[0]
        else:
            terms.extend(got)
    if not terms and default is None:
        raise RuleError("the rule is empty: write at least one line, e.g. token \"the\" -> 1", 1, 1)
    return s.Rule(tuple(terms), default)
