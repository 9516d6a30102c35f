"""Run the CLI in-process the way a user's shell does (``main()``: exit codes, one-line errors)."""

from __future__ import annotations

import pytest

from mirrorneuron.cli import main


def run_main(
    args: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> tuple[int, str, str]:
    """``mirrorneuron ARGS…`` → (exit code, stdout, stderr)."""
    monkeypatch.setattr("sys.argv", ["mirrorneuron", *args])
    with pytest.raises(SystemExit) as exc:
        main()
        raise SystemExit(0)
    out, err = capsys.readouterr()
    return int(exc.value.code or 0), out, err
