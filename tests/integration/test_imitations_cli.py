"""``mirrorneuron buildout check | imitate | imitations``: exit 2 with line:column on a bad rule (nothing
stored), versions and the metrics table on a good one."""

from __future__ import annotations

from pathlib import Path

import pytest
import web_fixtures as fx

from cli_run import run_main
from mirrorneuron.cli_buildout import imitate as imitate_cli

web_home, isolated_home = fx.web_home, fx.isolated_home  # one home per module, harvests shared

UNIT = "tiny-gelu/blocks.0.mlp.post/neuron/3"


def rule_file(tmp_path: Path, text: str) -> str:
    path = tmp_path / "rule.txt"
    path.write_text(text)
    return str(path)


def test_check_accepts_a_good_rule(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    src = rule_file(tmp_path, f'token " the" -> 1\nelse 0\n0.5 * unit("{UNIT}")\n')
    code, out, _ = run_main(["buildout", "check", src], capsys, monkeypatch)
    assert code == 0 and f"ok: 2 term(s), an else line; reads unit({UNIT})" in out


@pytest.mark.parametrize("cmd", [["check"], ["imitate", UNIT]])
def test_a_bad_rule_exits_2_with_line_and_column(
    cmd: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    src = rule_file(tmp_path, '# fine\ntoken " the" 2\n')
    code, _, err = run_main(["buildout", *cmd, src], capsys, monkeypatch)
    assert code == 2 and "Traceback" not in err
    first, text, caret = err.strip("\n").splitlines()
    assert first == f"error: {src}: line 2, col 14: expected '->' and a value (or another quoted token), found '2'"
    assert text.strip() == 'token " the" 2' and caret.index("^") == text.index("2")


def test_a_missing_file_or_unit_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    code, _, err = run_main(["buildout", "check", str(tmp_path / "nope.txt")], capsys, monkeypatch)
    assert code == 2 and "cannot read rule file" in err
    src = rule_file(tmp_path, "1")
    code, _, err = run_main(["buildout", "imitate", "tiny-gelu/nope/neuron/1", src], capsys, monkeypatch)
    assert code == 2 and err.startswith("error: ") and len(err.strip().splitlines()) == 1


def test_imitate_stores_versions_and_prints_the_comparison(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(imitate_cli.console, "width", 80)  # a narrow terminal still names every row in full
    src = rule_file(tmp_path, 'token " the" -> 1\nelse 0\n')
    code, out, err = run_main(["buildout", "imitate", UNIT, src, "--player", "ada"], capsys, monkeypatch)
    assert code == 0, err
    assert f"saved version 1 of {UNIT}" in out
    for who in ("imitation", "unigram bot", "knn bot", "ridge bot"):
        assert who in out
    code, out, _ = run_main(["buildout", "imitate", UNIT, src, "--player", "ada"], capsys, monkeypatch)
    assert code == 0 and "saved version 2" in out
    bad = rule_file(tmp_path, "1 +")
    assert run_main(["buildout", "imitate", UNIT, bad, "--player", "ada"], capsys, monkeypatch)[0] == 2
    code, out, _ = run_main(["buildout", "imitations", UNIT, "--player", "ada"], capsys, monkeypatch)
    assert code == 0
    rows = [line for line in out.splitlines() if 'token " the"' in line]
    assert len(rows) == 2  # the bad rule stored nothing
