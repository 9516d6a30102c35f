"""The built-in corpora shipped for the data knob (KJV, WordNet glosses) and corpus mixtures."""

import pytest

from mirrorneuron.config import BUILTIN_CORPORA
from mirrorneuron.corpus import corpus_parts, load_corpus
from mirrorneuron.types import UserError


def test_kjv_is_the_66_books() -> None:
    c = load_corpus("kjv")
    assert len(c.documents) == 66
    assert c.documents[0].startswith("In the beginning God created the heaven and the earth.")
    assert c.documents[-1].endswith("The grace of our Lord Jesus Christ be with you all. Amen.")
    assert 4_000_000 < sum(len(d) for d in c.documents) < 4_500_000


def test_wordnet_is_four_parts_of_speech_of_glosses() -> None:
    c = load_corpus("wordnet")
    assert len(c.documents) == 4
    lines = c.documents[0].splitlines()
    assert lines[0].startswith("entity: that which is perceived")
    assert sum(len(d.splitlines()) for d in c.documents) == 117_659  # every synset of WordNet 3.0
    assert "Princeton University" in (BUILTIN_CORPORA / "WORDNET_LICENSE").read_text()


def test_shipped_corpora_stay_small() -> None:
    for name in ("austen", "kjv", "wordnet"):
        assert (BUILTIN_CORPORA / f"{name}.txt.gz").stat().st_size < 4_000_000, name


def test_a_mixture_is_its_parts_documents_in_order() -> None:
    mix = load_corpus("austen+kjv")
    assert mix.documents == load_corpus("austen").documents + load_corpus("kjv").documents
    assert mix.id == "austen+kjv" and mix.checksum != load_corpus("austen").checksum
    assert corpus_parts("austen") == ["austen"]


@pytest.mark.parametrize(("name", "message"), [("austen+", "bad corpus mixture"), ("kjv+kjv", "distinct")])
def test_bad_mixtures(name: str, message: str) -> None:
    with pytest.raises(UserError, match=message):
        load_corpus(name)
