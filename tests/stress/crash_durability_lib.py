"""The crash-durability script in small (SQLite, 5 kill -9s of a real `mirrorneuron serve`), and its planted
fault: a server that answers a guess before committing it must be reported as losing acknowledged guesses.
The long runs (100+ kills, SQLite and Postgres) are `tests/stress/crash_guesses.py`; figures in
docs/reliability.md."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "stress" / "crash_guesses.py"

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]


def load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("crash_guesses", SCRIPT)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("crash-home")  # shared: the first game's harvest is made once


def run(home: Path, *extra: str) -> dict[str, Any]:
    args = ["--db", "sqlite", "--kills", "4", "--players", "4", "--seed", "3", "--max-up", "1.0", "--port", "18531"]
    return dict(load().main([*args, "--home", str(home), *extra]))


def test_acknowledged_guesses_survive_kill_9(home: Path) -> None:
    out = run(home)
    assert out["kills"] == 5 and out["acked"] > 0, out
    assert out["lost"] == out["wrong_value"] == out["stored_twice"] == out["acked_twice"] == 0, out
    assert out["integrity"] == "ok" and out["ok"], out


def test_checker_catches_ack_before_commit(home: Path) -> None:
    out = run(home, "--plant", "ack-before-commit")
    assert out["acked"] > 0 and out["lost"] > 0 and not out["ok"], out
