"""`models add/list/remove`: the registry round trip, name resolution through zoo_adapter, and clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tiny_models import save_tiny_bert, tiny_tokenizer
from typer.testing import CliRunner

from mirrorneuron.cli import app
from mirrorneuron.cli_models import models_app
from mirrorneuron.models import real
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
