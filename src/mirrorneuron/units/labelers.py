"""Labelers: label harvested examples with a concept, for probes and concept-mean directions.

A text labeler is a function of (the window's token strings, position) → label; an image labeler of
(pixels [H, W] in [0, 1], digit class) → label. A label may be a bool, a number or a string; ``None`` means
"unknown" (the example is left out). Concepts are named ``NAME`` or ``NAME=VALUE``; the second form turns a
categorical labeler into a binary one (``prev_token=the``, ``pos=NOUN``, ``digit=3``).

Built-in text concepts (token strings as the model's tokenizer splits them; context is counted from the
window start, which is all the model sees):

- ``capitalised``, ``digit`` (the token contains a digit), ``punctuation`` (no letter or digit),
  ``word_start`` (the token starts with whitespace);
- ``in_quotes`` (after an odd number of ``"``/``“``), ``in_brackets`` (inside ``( [ {``);
- ``sentence_start``: the first token with a letter or digit after ``. ! ?`` or a line break
  (unknown before the window's first boundary);
- ``position`` (numeric), ``token`` and ``prev_token`` (categorical: the stripped token string);
- ``pos``, ``ent`` (categorical) and ``entity`` (binary) from spaCy's small English pipeline, if installed
  (always listed; spaCy is loaded only when one of them is used).

Built-in image concepts (the bundled 8×8 digits): ``digit`` (class, categorical), ``has_loop`` (classes
0, 6, 8, 9 — 4 is left out because handwritten 4s are usually open at the top), ``thickness`` (ink
fraction: mean pixel intensity, numeric).

Add your own with the :func:`labeler` decorator, a ``module:function`` (or ``file.py:function``) spec, or a CSV
of ``example,label`` rows (see :func:`csv_labeler`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from mirrorneuron.types import Modality, UserError
from mirrorneuron.units.spacy_labels import spacy_ent, spacy_entity, spacy_pos

LabelKind = Literal["binary", "numeric", "categorical", "auto"]
WindowsFn = Callable[[list[list[str]]], list[list[Any]]]  # many windows → a label per position of each
ImageFn = Callable[[np.ndarray, int], Any]
TextFn = Callable[[Sequence[str], int], Any]


@dataclass(frozen=True)
class Labeler:
    """How to label examples. Exactly one of ``windows_fn`` (text), ``image_fn`` (images), ``table`` (CSV)."""

    name: str
    modality: Modality | Literal["any"]
    kind: LabelKind
    description: str = ""
    windows_fn: WindowsFn | None = None
    image_fn: ImageFn | None = None
    table: dict[int, Any] | None = None


_REGISTRY: dict[tuple[str, str], Labeler] = {}


def register(lab: Labeler) -> Labeler:
    """Add (or replace) a labeler in the registry."""
    _REGISTRY[(lab.modality, lab.name)] = lab
    return lab


def per_position(fn: TextFn) -> WindowsFn:
    """Lift a (tokens, position) → label function to whole windows."""
    return lambda windows: [[fn(toks, p) for p in range(len(toks))] for toks in windows]


def labeler(
    name: str, *, modality: Modality = "text", kind: LabelKind = "auto", description: str = ""
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator: register ``fn(tokens, position)`` (text) or ``fn(pixels, digit_class)`` (images) as ``name``."""

    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        doc = description or (fn.__doc__ or "").strip().split("\n")[0]
        if modality == "image":
            register(Labeler(name, "image", kind, doc, image_fn=fn))
        else:
            register(Labeler(name, "text", kind, doc, windows_fn=per_position(fn)))
        return fn

    return wrap


def _window(name: str, kind: LabelKind, description: str) -> Callable[[Callable[[list[str]], list[Any]]], None]:
    """Register a built-in that labels all positions of one window at once."""

    def wrap(fn: Callable[[list[str]], list[Any]]) -> None:
        register(Labeler(name, "text", kind, description, windows_fn=lambda ws: [fn(w) for w in ws]))

    return wrap


def lookup(name: str, modality: Modality) -> Labeler:
    lab = _REGISTRY.get((modality, name)) or _REGISTRY.get(("any", name))
    if lab is None:
        raise UserError(
            f"unknown concept {name!r} for {modality} models; built-in: {', '.join(known(modality))} "
            "(or give your own with --labeler module:function or --csv FILE)"
        )
    return lab


def known(modality: Modality) -> list[str]:
    return sorted(n for m, n in _REGISTRY if m in (modality, "any"))


# --- built-in text labelers --------------------------------------------------------------------------
def _token_class(name: str, test: Callable[[str], bool], description: str) -> None:
    _window(name, "binary", description)(lambda toks: [test(t) for t in toks])


_token_class("capitalised", lambda t: t.strip()[:1].isupper(), "the token starts with a capital letter")
_token_class("digit", lambda t: any(c.isdigit() for c in t), "the token contains a digit")
_token_class("punctuation", lambda t: bool(t.strip()) and not any(c.isalnum() for c in t), "no letter or digit")
_token_class("word_start", lambda t: t[:1].isspace(), "the token starts with whitespace")
_window("position", "numeric", "position in the window")(lambda toks: list(range(len(toks))))
_window("token", "categorical", "the token (stripped)")(lambda toks: [t.strip() for t in toks])
_window("prev_token", "categorical", "the previous token (stripped)")(
    lambda toks: [None] + [t.strip() for t in toks[:-1]]
)


def _first_content(tok: str) -> int:
    """Index of the first character of ``tok`` that is not whitespace or a quote/bracket (len if none)."""
    return next((i for i, c in enumerate(tok) if not c.isspace() and c not in '"“”()[]{}'), len(tok))


def _spans(toks: list[str], step: Callable[[Any, str], Any], is_open: Callable[[Any], bool], init: Any) -> list[bool]:
    """Whether each token is inside a span: the state at its first content character; a token of only
    quote/bracket marks counts as inside when the span is open before or after it (both delimiters are in)."""
    out, state = [], init
    for t in toks:
        k = _first_content(t)
        before = state
        for c in t[:k]:
            state = step(state, c)
        if k < len(t):
            out.append(is_open(state))
            for c in t[k:]:
                state = step(state, c)
        else:
            out.append(is_open(before) or is_open(state))
    return out


def _quote(inside: bool, c: str) -> bool:
    return True if c == "“" else False if c == "”" else (not inside) if c == '"' else inside


def _bracket(depth: int, c: str) -> int:
    return depth + 1 if c in "([{" else max(0, depth - 1) if c in ")]}" else depth


_window("in_quotes", "binary", "inside double quotes, the quote marks included (from the window start)")(
    lambda toks: _spans(toks, _quote, bool, False)
)
_window("in_brackets", "binary", "inside ( ), [ ] or { }, the brackets included (from the window start)")(
    lambda toks: _spans(toks, _bracket, lambda d: d > 0, 0)
)


@_window("sentence_start", "binary", "first word after . ! ? or a line break")
def _sentence_start(toks: list[str]) -> list[bool | None]:
    out: list[bool | None] = []
    boundary: bool | None = None  # unknown before the window's first boundary
    for t in toks:
        if any(c.isalnum() for c in t):
            out.append(boundary)
            last = max(i for i, c in enumerate(t) if c.isalnum())
            tail = t[last + 1 :]
            boundary = any(c in ".!?\n" for c in tail)
        else:
            out.append(False)
            if any(c in ".!?\n" for c in t):
                boundary = True
    return out


# --- spaCy text labelers (spaCy itself is imported on first use) ---------------------------------------
register(Labeler("pos", "text", "categorical", "spaCy part of speech (NOUN, VERB, PROPN, …)", spacy_pos))
register(Labeler("ent", "text", "categorical", "spaCy entity type (PERSON, GPE, …; O outside)", spacy_ent))
register(Labeler("entity", "text", "binary", "part of a spaCy named entity", spacy_entity))


# --- built-in image labelers -------------------------------------------------------------------------
LOOP_DIGITS = (0, 6, 8, 9)
register(Labeler("digit", "image", "categorical", "the digit's class", image_fn=lambda px, c: int(c)))
register(Labeler("has_loop", "image", "binary", "digit 0, 6, 8 or 9", image_fn=lambda px, c: int(c) in LOOP_DIGITS))
register(
    Labeler("thickness", "image", "numeric", "stroke thickness: ink fraction", image_fn=lambda px, c: float(px.mean()))
)
