"""Drive the terminal game in a real pty, as a player would."""

import os
import sys
from pathlib import Path

import pexpect
import pytest

# The prompt itself, not "your guess" in the intro panel: sending while the game is still drawing lets the
# tty echo split a multi-byte block character (a UnicodeDecodeError in pexpect, seen once in CI).
GUESS = "q to quit"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("home")


def spawn(home: Path, *args: str) -> pexpect.spawn:
    env = {**os.environ, "MIRRORNEURON_HOME": str(home), "COLUMNS": "120", "TERM": "xterm"}
    return pexpect.spawn(
        sys.executable,
        ["-m", "mirrorneuron", "play", "--terminal", *args],
        env=env,
        encoding="utf-8",
        timeout=120,
        dimensions=(50, 120),
    )


SESSIONS = [("tiny-gelu", "blocks.0.mlp.post/3", lvl) for lvl in "0123"] + [
    ("digits-mlp", "layers.1.post/5", lvl) for lvl in "023"
]


@pytest.mark.parametrize(("model", "unit", "level"), SESSIONS)
def test_full_session_at_each_level(home: Path, model: str, unit: str, level: str) -> None:
    child = spawn(home, "--model", model, "--unit", unit, "--level", level, "--rounds", "2", "--seed", "1")
    for _ in range(2):
        child.expect(GUESS)
        child.sendline("0.1")
        child.expect("truth")
    child.expect("How everyone did")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    text = child.before or ""
    assert "ridge" in text and "unigram" in text


def test_digits_session_rejects_bad_input_and_ctrl_c_keeps_results(home: Path) -> None:
    child = spawn(home, "--model", "digits-mlp", "--level", "1", "--rounds", "5", "--seed", "0")
    child.expect("█|▓|▒")  # the digit drawn in block characters
    child.expect(GUESS)
    for bad in ("abc", "", "inf", "nan"):
        child.sendline(bad)
        child.expect("please type a finite number")
    child.sendline("0.5")
    child.expect("truth")
    child.expect(GUESS)
    child.sendintr()  # Ctrl-C
    child.expect("session ended after")
    child.expect("results kept")
    child.expect("How everyone did")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


def test_bad_arguments_exit_2_with_one_line(home: Path) -> None:
    child = spawn(home, "--model", "tiny-gelu", "--level", "7")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 2
    lines = [ln for ln in (child.before or "").splitlines() if ln.strip()]
    assert len(lines) == 1 and "unknown level" in lines[0]
