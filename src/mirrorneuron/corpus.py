"""Corpora: the built-in offline texts, user text files/folders, and the bundled digits images."""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from mirrorneuron.config import BUILTIN_CORPORA
from mirrorneuron.types import UserError

# Built-in texts: Jane Austen's six novels and the King James Bible (public domain), WordNet 3.0's glosses
# (WordNet licence, data/corpora/WORDNET_LICENSE); rebuilt by scripts/fetch_austen.py, scripts/fetch_kjv_wordnet.py
BUILTIN_TEXT = {"austen": "austen.txt.gz", "kjv": "kjv.txt.gz", "wordnet": "wordnet.txt.gz"}
MIX = "+"  # "austen+kjv": the documents of several corpora, in that order


@dataclass(frozen=True)
class Corpus:
    """A list of documents plus a stable id and checksum (recorded in harvest manifests)."""

    id: str
    documents: tuple[str, ...]

    @property
    def checksum(self) -> str:
        h = hashlib.sha256()
        for doc in self.documents:
            h.update(doc.encode("utf-8"))
            h.update(b"\x00")
        return h.hexdigest()[:16]


def _read_text(path: Path) -> str:
    raw = path.read_bytes()
    if path.suffix == ".gz":
        try:
            raw = gzip.decompress(raw)
        except OSError as e:
            raise UserError(f"{path}: not a valid gzip file ({e})") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise UserError(f"{path}: not UTF-8 text (byte {e.start}); convert it with e.g. `iconv -t utf-8`") from None


def _split_documents(text: str) -> list[str]:
    """Documents are separated by blank lines; single newlines (paragraphs) stay inside a document."""
    docs = [d.strip() for d in text.split("\n\n")]
    return [d for d in docs if d]


@cache
def load_corpus(name_or_path: str) -> Corpus:
    """Load a built-in corpus by name (``austen``, ``kjv``, ``wordnet``), a UTF-8 text file (.txt/.gz) or a
    folder of them, or a mixture ``austen+kjv`` (their documents in order; see :func:`corpus_parts`)."""
    parts = corpus_parts(name_or_path)
    if len(parts) > 1:
        return Corpus(name_or_path, tuple(d for part in parts for d in load_corpus(part).documents))
    if name_or_path in BUILTIN_TEXT:
        text = _read_text(BUILTIN_CORPORA / BUILTIN_TEXT[name_or_path])
        return Corpus(name_or_path, tuple(_split_documents(text)))
    path = Path(name_or_path)
    if not path.exists():
        known = ", ".join(BUILTIN_TEXT)
        raise UserError(f"corpus {name_or_path!r} not found: give a built-in name ({known}) or a text file/folder")
    files = (
        sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in {".txt", ".gz", ".md"})
        if path.is_dir()
        else [path]
    )
    docs: list[str] = []
    for f in files:
        docs.extend(_split_documents(_read_text(f)))
    if not docs:
        raise UserError(f"corpus {name_or_path!r} is empty: it has no text")
    return Corpus(str(path), tuple(docs))


def corpus_parts(name: str) -> list[str]:
    """The corpora of a mixture ``a+b`` (a single name, or a path containing no ``+`` of its own, is one part)."""
    if MIX not in name or Path(name).exists():
        return [name]
    parts = [p.strip() for p in name.split(MIX)]
    if any(not p for p in parts) or len(set(parts)) != len(parts):
        raise UserError(f"bad corpus mixture {name!r}: give distinct corpora joined by '+', e.g. austen+kjv")
    return parts


@dataclass(frozen=True)
class ImageSet:
    id: str
    images: np.ndarray  # float32 [N, H, W] in [0, 1]
    labels: np.ndarray  # int64 [N]

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.images.tobytes() + self.labels.tobytes()).hexdigest()[:16]


@cache
def load_digits() -> ImageSet:
    """scikit-learn's bundled 8×8 digits (1,797 images), scaled to [0, 1]."""
    from sklearn.datasets import load_digits as sk_digits

    d = sk_digits()
    return ImageSet("digits", (d.images / 16.0).astype(np.float32), d.target.astype(np.int64))


def digits_split(images: ImageSet, val_fraction: float = 0.2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A fixed train/validation split of image indices."""
    order = np.random.default_rng(seed).permutation(len(images.labels))
    n_val = int(len(order) * val_fraction)
    return np.sort(order[n_val:]), np.sort(order[:n_val])
