"""`mirrorneuron serve` and `mirrorneuron play` (the browser game by default; `--terminal` stays as it was)."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from typer.testing import CliRunner

from mirrorneuron.cli import app
from mirrorneuron.types import UserError
from mirrorneuron.web import serve as web_serve

runner = CliRunner()


def test_serve_and_play_help() -> None:
    res = runner.invoke(app, ["serve", "--help"])
    assert res.exit_code == 0 and "--workers" in res.output and "--port" in res.output
    res = runner.invoke(app, ["play", "--help"])
    assert res.exit_code == 0 and "--terminal" in res.output


def test_play_opens_the_browser_game(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: dict[str, Any] = {}
    opened: list[str] = []

    def fake_serve(host: str, port: int, workers: int, on_ready: Any = None, log_level: str = "info") -> None:
        calls.update(host=host, port=port, workers=workers)
        on_ready()

    monkeypatch.setattr(web_serve, "serve", fake_serve)
    monkeypatch.setattr("webbrowser.open", lambda url: opened.append(url) or True)
    # The early harvest is tested in test_first_start_overlap; here it would outlive the test on its thread.
    ahead: list[str] = []
    monkeypatch.setattr("mirrorneuron.cli_play.harvest_ahead", lambda adapter, unit: ahead.append(adapter.name))
    res = runner.invoke(app, ["play", "--model", "digits-mlp", "--level", "2", "--rounds", "5", "--port", "8123"])
    assert res.exit_code == 0, res.output
    assert calls == {"host": "127.0.0.1", "port": 8123, "workers": 1}
    assert opened == ["http://127.0.0.1:8123/?model=digits-mlp&level=2&rounds=5"]
    assert ahead == ["digits-mlp"]
    assert "http://127.0.0.1:8123/" in res.output


def test_play_checks_options_before_serving(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(web_serve, "serve", lambda *a, **k: pytest.fail("must not serve"))
    res = runner.invoke(app, ["play", "--level", "9"])
    assert res.exit_code != 0 and "unknown level" in str(res.exception or res.output)


def test_busy_port_is_a_user_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(UserError, match="another --port"):
            web_serve.check_port("127.0.0.1", port)
    with pytest.raises(UserError, match="--workers"):
        web_serve.serve("127.0.0.1", port, workers=0)


def test_browser_url_for_any_interface() -> None:
    assert web_serve.browser_url("0.0.0.0", 9000, "/x") == "http://127.0.0.1:9000/x"
    assert web_serve.browser_url("127.0.0.1", 8000) == "http://127.0.0.1:8000/"
