from pathlib import Path

import numpy as np
import pytest

from mirrorneuron.corpus import digits_split, load_corpus, load_digits
from mirrorneuron.types import UserError


def test_builtin_austen_is_six_novels() -> None:
    c = load_corpus("austen")
    assert len(c.documents) == 6
    assert c.documents[1].startswith("PRIDE AND PREJUDICE")
    assert sum(len(d) for d in c.documents) > 3_900_000
    assert c.checksum == load_corpus("austen").checksum


def test_text_file_and_folder(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("first doc\n\nsecond doc\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.txt").write_text("third")
    assert load_corpus(str(tmp_path / "a.txt")).documents == ("first doc", "second doc")
    assert len(load_corpus(str(tmp_path)).documents) == 3


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"\xff\xfe bad bytes", "not UTF-8"), (b"   \n\n  ", "empty")],
)
def test_bad_corpus_files(tmp_path: Path, content: bytes, message: str) -> None:
    f = tmp_path / "c.txt"
    f.write_bytes(content)
    with pytest.raises(UserError, match=message):
        load_corpus(str(f))


def test_missing_corpus() -> None:
    with pytest.raises(UserError, match="not found"):
        load_corpus("/no/such/corpus.txt")


def test_digits() -> None:
    d = load_digits()
    assert d.images.shape == (1797, 8, 8) and d.images.max() <= 1.0
    tr, va = digits_split(d)
    assert len(np.intersect1d(tr, va)) == 0 and len(tr) + len(va) == 1797
