"""The rule language's tokenizer: one source line at a time into (kind, text, value, col) tokens."""

from __future__ import annotations

import re
from dataclasses import dataclass

from mirrorneuron.buildout.rules.syntax import RuleError

MAX_REGEX = 200  # user regexes run over token strings; keep them short

_NUMBER = re.compile(r"\d+(\.\d*)?([eE][+-]?\d+)?|\.\d+([eE][+-]?\d+)?")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z_0-9]*")
_OPS = ("->", "==", "!=", "<=", ">=", "<", ">", "+", "-", "*", "/", "(", ")", "[", "]", ",", ":", "~")
_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "t": "\t"}


@dataclass(frozen=True)
class Tok:
    kind: str  # number, string, regex, name, op, end
    text: str
    col: int  # 1-based
    value: float | str | None = None


def tokenize(line: str, lineno: int) -> list[Tok]:
    """Tokens of one line (a ``#`` outside a string starts a comment), ending with an ``end`` token.

    A ``/`` starts a regex literal right after the word ``regex`` or the ``~`` operator; elsewhere it divides.
    """
    out: list[Tok] = []
    i = 0
    while i < len(line):
        c = line[i]
        if c.isspace():
            i += 1
        elif c == "#":
            break
        elif c == '"':
            i = _string(line, i, lineno, out)
        elif c == "/" and out and (out[-1].text == "~" or (out[-1].kind == "name" and out[-1].text == "regex")):
            i = _regex(line, i, lineno, out)
        elif m := _NUMBER.match(line, i):
            out.append(Tok("number", m.group(), i + 1, float(m.group())))
            i = m.end()
        elif m := _IDENT.match(line, i):
            out.append(Tok("name", m.group(), i + 1))
            i = m.end()
        else:
            op = next((o for o in _OPS if line.startswith(o, i)), None)
            if op is None:
                raise RuleError(f"unexpected character {c!r}", lineno, i + 1, line)
            out.append(Tok("op", op, i + 1))
            i += len(op)
    out.append(Tok("end", "end of line", len(line.rstrip()) + 1))
    return out


def _string(line: str, start: int, lineno: int, out: list[Tok]) -> int:
    chars: list[str] = []
    i = start + 1
    while i < len(line):
        c = line[i]
        if c == '"':
            out.append(Tok("string", line[start : i + 1], start + 1, "".join(chars)))
            return i + 1
        if c == "\\":
            nxt = line[i + 1 : i + 2]
            if nxt not in _ESCAPES:
                raise RuleError(f"unknown escape \\{nxt} in a string (use \\\" \\\\ \\n \\t)", lineno, i + 1, line)
            chars.append(_ESCAPES[nxt])
            i += 2
        else:
            chars.append(c)
            i += 1
    raise RuleError('unterminated string: a closing " is missing', lineno, start + 1, line)


def _regex(line: str, start: int, lineno: int, out: list[Tok]) -> int:
    i = start + 1
    while i < len(line):
        if line[i] == "\\":
            i += 2
            continue
        if line[i] == "/":
            pattern = line[start + 1 : i].replace("\\/", "/")
            if len(pattern) > MAX_REGEX:
                raise RuleError(f"regex longer than {MAX_REGEX} characters", lineno, start + 1, line)
            try:
                re.compile(pattern)
            except re.error as e:
                raise RuleError(f"bad regex: {e.msg}", lineno, start + 2 + (e.pos or 0), line) from None
            out.append(Tok("regex", line[start : i + 1], start + 1, pattern))
            return i + 1
        i += 1
    raise RuleError("unterminated regex: a closing / is missing", lineno, start + 1, line)
