"""`models add/list/remove`: the registry round trip, name resolution through zoo_adapter, and clear errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from tiny_models import save_tiny_bert, tiny_tokenizer
from typer.testing import CliRunner

from mirrorneuron.cli import app
from mirrorneuron.cli_models import models_app
from mirrorneuron.models import real, registry
from mirrorneuron.models.loader import zoo_adapter
from mirrorneuron.models.registry import add_model, read_registry, registered_adapter, registry_file, remove_model
from mirrorneuron.types import UserError

pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def bert_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_bert(tmp_path_factory.mktemp("reg") / "Tiny-BERT", tiny_tokenizer())


def test_add_resolve_remove(bert_dir: Path, isolated_home: Path) -> None:
    entry = add_model(f"hf:{bert_dir}", layers=[1])
    assert entry.name == "tiny-bert" and entry.source == f"hf:{bert_dir.resolve()}"
    saved = json.loads(registry_file().read_text())
    assert saved == {"tiny-bert": {"source": f"hf:{bert_dir.resolve()}", "layers": [1], "n_ctx": 64}}
    adapter = zoo_adapter("tiny-bert")  # every command resolves registered names
    assert adapter.name == "tiny-bert" and "blocks.1.mlp.post" in adapter.sites
    assert "blocks.0.mlp.post" not in adapter.sites
    assert registered_adapter("tiny-gelu") is None  # zoo names stay the zoo's
    remove_model("tiny-bert")
    assert read_registry() == {}
    with pytest.raises(UserError, match="unknown model"):
        zoo_adapter("tiny-bert")


def test_bad_sources_and_names(bert_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(UserError, match="bad model source"):
        add_model(str(bert_dir))
    with pytest.raises(UserError, match="no such folder"):
        add_model(f"hf:{tmp_path / 'nope'}")
    with pytest.raises(UserError, match="bad model name"):
        add_model(f"hf:{bert_dir}", name="a/b")
    with pytest.raises(UserError, match="already a built-in or zoo model"):
        add_model(f"hf:{bert_dir}", name="tiny-gelu")
    with pytest.raises(UserError, match="already a built-in or zoo model"):
        add_model(f"hf:{bert_dir}", name="minilm-l6")
    with pytest.raises(UserError, match="no registered model"):
        remove_model("ghost")
    assert not registry_file().exists()  # nothing saved by a failed add


def test_corrupt_registry_is_a_user_error() -> None:
    registry_file().parent.mkdir(parents=True, exist_ok=True)
    registry_file().write_text("{broken")
    with pytest.raises(UserError, match="not a valid model registry"):
        read_registry()


def test_builtin_without_its_wheel_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(real.importlib.util, "find_spec", lambda _name: None)
    with pytest.raises(UserError, match=r"pip install 'mirrorneuron\[real\]'"):
        real.minilm_folder()
    assert all(not b.installed for b in real.BUILTINS.values())


def test_cli_add_list_sites_activations(bert_dir: Path) -> None:
    runner = CliRunner()
    added = runner.invoke(models_app, ["add", f"hf:{bert_dir}", "--name", "bert-t"])
    assert added.exit_code == 0, added.output
    assert "registered bert-t" in added.output and "blocks.1.mlp.post (64)" in added.output
    listed = runner.invoke(models_app, ["list"])
    assert "bert-t" in listed.output and "minilm-l6" in listed.output
    sites = runner.invoke(models_app, ["sites", "bert-t"])
    assert "blocks.0.resid.post" in sites.output and "gelu" in sites.output
    acts = runner.invoke(app, ["activations", "bert-t", "blocks.1.mlp.post", "3", "--text", "She smiled at him."])
    assert acts.exit_code == 0, acts.output
    assert "activation" in acts.output and "'.'" in acts.output
    bad = runner.invoke(models_app, ["add", "hf:/no/such/folder"])
    assert bad.exit_code != 0 and isinstance(bad.exception, UserError)


def test_playable_models_lists_every_kind_without_loading(
    bert_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_model(f"hf:{bert_dir}", name="bert-ok", layers=[1], check=False)
    gone = tmp_path / "gone"
    shutil.copytree(bert_dir, gone)
    add_model(f"hf:{gone}", name="bert-gone", check=False)
    shutil.rmtree(gone)

    def no_loading(entry: registry.ModelEntry) -> None:
        raise AssertionError(f"listing loaded {entry.name}")

    monkeypatch.setattr(registry, "_load", no_loading)
    models = {m.name: m for m in registry.playable_models()}
    ok, missing = models["bert-ok"], models["bert-gone"]
    assert (ok.kind, ok.modality, ok.ready, ok.hint) == ("registered", "text", True, None)
    assert ok.description == f"hf:{bert_dir.resolve()} (mlp layers 1)"
    assert not missing.ready and missing.hint and "models remove bert-gone" in missing.hint
    assert models["tiny-gelu"].ready and models["digits-mlp"].modality == "image"  # shipped zoo checkpoints
    relu = models["tiny-relu"]
    assert not relu.ready and not relu.trained and relu.hint == "mirrorneuron zoo train tiny-relu"
    assert all(models[b].kind == "built-in" and models[b].trained for b in real.BUILTINS)
    rows = {r["name"]: r for r in registry.model_rows()}
    assert "tiny-gelu" not in rows and rows["bert-ok"]["status"] == "ready"
    assert rows["bert-gone"]["status"] == missing.hint


def test_a_registered_name_the_zoo_takes_later_is_the_zoos(bert_dir: Path) -> None:
    # add_model refuses zoo names; an entry can still predate the zoo entry (or be written by hand)
    registry_file().parent.mkdir(parents=True, exist_ok=True)
    registry_file().write_text(json.dumps({"tiny-relu": {"source": f"hf:{bert_dir}"}}))
    shadowed = [m for m in registry.playable_models() if m.name == "tiny-relu"]
    assert [m.kind for m in shadowed] == ["zoo"]
