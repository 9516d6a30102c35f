"""The terminal game on a registered Hugging Face model (a tiny random-config Llama), in a real pty."""

from __future__ import annotations

from pathlib import Path

import pexpect
import pytest
from test_terminal import GUESS, spawn
from tiny_models import save_tiny_llama, tiny_tokenizer

from mirrorneuron.models.registry import add_model

pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home whose registry holds ``term-llama``."""
    home = tmp_path_factory.mktemp("home")
    folder = save_tiny_llama(tmp_path_factory.mktemp("hf") / "llama", tiny_tokenizer())
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MIRRORNEURON_HOME", str(home))
        add_model(f"hf:{folder}", name="term-llama")
    return home


@pytest.mark.parametrize("level", ["1", "3"])
def test_terminal_session_on_a_registered_model(home: Path, level: str) -> None:
    child = spawn(home, "--model", "term-llama", "--level", level, "--rounds", "2", "--seed", "2")
    for _ in range(2):
        child.expect(GUESS)
        child.sendline("0.0")
        child.expect("truth")
    child.expect("How everyone did")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before
    assert "ridge" in (child.before or "")
