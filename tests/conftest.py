"""Shared fixtures: an isolated MIRRORNEURON_HOME and a small trained text model (trained once per session)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mirrorneuron.models.train import train
from mirrorneuron.models.zoo import REGISTRY

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("MIRRORNEURON_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def small_lm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tiny-gelu's config trained for a few steps: real shapes and tokenizer, seconds to build."""
    out = tmp_path_factory.mktemp("zoo") / "tiny-gelu"
    train(REGISTRY["tiny-gelu"].model_copy(update={"steps": 30}), out)
    return out


@pytest.fixture
def small_lm(small_lm_dir: Path, isolated_home: Path) -> str:
    """Install the small model into the isolated home's zoo as ``tiny-gelu`` and return its name."""
    import shutil

    shutil.copytree(small_lm_dir, isolated_home / "zoo" / "tiny-gelu")
    return "tiny-gelu"
