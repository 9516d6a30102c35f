"""``mirrorneuron buildout module``: bad options are one-line errors (exit 2) before any work."""

from __future__ import annotations

import pytest

from cli_run import run_main


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--site", "blocks.0.mlp.post", "--ablate", "half"], "--ablate must be one of zero, mean"),
        (["--site", "blocks.0.mlp.post", "--order", "random"], "--order must be written or best"),
        (["--site", "blocks.0.mlp.post", "--windows", "0"], "--windows must be at least 1"),
        ([], "choose a layer (--site SITE) or a module (--module K)"),
        (["--site", "blocks.0.mlp.post", "--module", "1"], "not both or neither"),
    ],
)
def test_bad_options_exit_2_with_one_line(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, _, err = run_main(["buildout", "module", "tiny-gelu", *args], capsys, monkeypatch)
    assert code == 2 and message in err and "Traceback" not in err
