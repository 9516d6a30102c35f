"""The rule language's parser: what each statement parses to, the JSON round trip, and every error with the
line and column it points at."""

from __future__ import annotations

import pytest

from mirrorneuron.buildout.rules import RuleError, parse_rule, rule_from_json
from mirrorneuron.buildout.rules import syntax as s
from mirrorneuron.types import UserError

FULL = """# a comment line
token " the" " a" -> 2.5, " cat" -> 3
regex /^[A-Z]/ -> 1.0   # trailing comment
if prev == " of" and pos < 3 or not next in (" x", " y") then +0.5
if tok[-2] ~ /\\d/ then -1
else relu(0.8 * unit("m/s.0/neuron/1") - 0.2)
imitation("m/s.1/probe/capitalised") / 2 + max(pos, 1, 2) * abs(-3)
"""


def test_every_statement_kind_parses() -> None:
    rule = parse_rule(FULL)
    kinds = [type(t.when).__name__ if t.when is not None else None for t in rule.terms]
    assert kinds == ["TokenIn", "TokenIn", "TokenMatch", "BoolOp", "TokenMatch", None]
    assert rule.terms[0].when == s.TokenIn(2, 7, 0, (" the", " a"))
    assert rule.terms[1].value == s.Num(2, 37, 3.0)
    assert rule.terms[4].when == s.TokenMatch(5, 4, -2, "\\d")
    assert rule.default is not None and rule.default.line == 6
    assert rule.references() == (("unit", "m/s.0/neuron/1"), ("imitation", "m/s.1/probe/capitalised"))


def test_precedence_and_unary_signs() -> None:
    (term,) = parse_rule("1 + 2 * -3 - 4").terms
    v = term.value
    assert isinstance(v, s.BinOp) and v.op == "-" and v.right == s.Num(1, 14, 4.0)
    assert isinstance(v.left, s.BinOp) and v.left.op == "+"
    assert v.left.right == s.BinOp(1, 7, "*", s.Num(1, 5, 2.0), s.Neg(1, 9, s.Num(1, 10, 3.0)))
    cond = parse_rule("if pos > 1 or pos < 0 and pos == 5 then 1").terms[0].when
    assert isinstance(cond, s.BoolOp) and cond.op == "or" and isinstance(cond.right, s.BoolOp)


def test_strings_keep_escapes_and_hashes() -> None:
    rule = parse_rule('token "#\\"x\\\\" -> 1')
    assert rule.terms[0].when == s.TokenIn(1, 7, 0, ('#"x\\',))


def test_json_round_trip() -> None:
    rule = parse_rule(FULL)
    assert rule_from_json(rule.to_json()) == rule
    with pytest.raises(ValueError, match="not a rule"):
        rule_from_json({"node": "Bogus"})


ERRORS = [
    # lexer
    ("1 $ 2", 1, 3, "unexpected character '$'"),
    ('token "a\\q" -> 1', 1, 9, "unknown escape"),
    ('token "abc -> 1', 1, 7, "unterminated string"),
    ("regex /[a/ -> 1", 1, 8, "bad regex"),
    ("regex /abc -> 1", 1, 7, "unterminated regex"),
    ("regex /" + "a" * 201 + "/ -> 1", 1, 7, "longer than 200"),
    # statements
    ('token "a" 2', 1, 11, "expected '->'"),
    ("token 2 -> 1", 1, 7, "expected a token in quotes"),
    ('token "a" -> 1 2', 1, 16, "unexpected '2' after a complete statement"),
    ("regex abc -> 1", 1, 7, "expected a /regex/"),
    ("regex /a/ 1", 1, 11, "expected '->'"),
    ("if pos < 1 2", 1, 12, "expected 'then'"),
    ("then 1", 1, 1, "'then' without 'if'"),
    ("1\nelse 1\n\nelse 2", 4, 1, "a second 'else' (the first is on line 2)"),
    ("# only a comment\n\n", 1, 1, "the rule is empty"),
    # conditions
    ("if prev 1 then 1", 2 - 1, 9, "expected == "),
    ('if prev == 1 then 1', 1, 12, "expected a token in quotes"),
    ("if tok ~ abc then 1", 1, 10, "expected a /regex/ after ~"),
    ('if tok[1.5] == "a" then 1', 1, 8, "whole number"),
    ('if tok[x] == "a" then 1', 1, 8, "a whole number offset"),
    ('if next in ("a" "b") then 1', 1, 17, "expected ')'"),
    ("if pos then 1", 1, 8, "expected a comparison"),
    # expressions
    ("1 +", 1, 4, "expected a number, found end of line"),
    ("(1 + 2", 1, 7, "expected ')'"),
    ("foo + 1", 1, 1, "unknown name 'foo'"),
    ("prev + 1", 1, 1, "prev is a token, not a number"),
    ("1 + then", 1, 5, "unexpected 'then'"),
    ('unit("x/y")', 1, 6, "bad unit id"),
    ("unit(3)", 1, 6, "expected a unit id in quotes"),
    ("pixels[3:1, 0:2]", 1, 10, "empty range 3:1"),
    ("pixels[0:1.5, 0:2]", 1, 10, "whole numbers"),
    ("pixels[0:1 0:2]", 1, 12, "expected ','"),
    ("pixels 0:1", 1, 8, "expected '[' after pixels"),
    ("min(1)", 1, 1, "min takes 2 to 8 argument(s), got 1"),
    ("relu(1, 2)", 1, 1, "relu takes 1 argument(s), got 2"),
]


@pytest.mark.parametrize(("source", "line", "col", "message"), ERRORS, ids=[e[3] for e in ERRORS])
def test_each_error_points_at_its_line_and_column(source: str, line: int, col: int, message: str) -> None:
    with pytest.raises(RuleError) as exc:
        parse_rule(source)
    e = exc.value
    assert (e.line, e.col) == (line, col), str(e)
    assert message in str(e)
    assert str(e).startswith(f"line {line}, col {col}: ") and "\n" not in str(e)  # one line
    assert isinstance(e, UserError)  # the CLI turns it into exit 2


def test_the_caret_sits_under_the_column() -> None:
    with pytest.raises(RuleError) as exc:
        parse_rule('1\ntoken "a" 2')
    text, caret = exc.value.caret.splitlines()
    assert text == '  token "a" 2' and caret.index("^") == text.index("2")


def test_a_too_long_rule_is_refused() -> None:
    with pytest.raises(RuleError, match="longer than 20000"):
        parse_rule("1\n" * 10_001)
