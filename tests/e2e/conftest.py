"""End-to-end fixtures: the real server (``mirrorneuron serve`` in a subprocess) and Debian's Chromium.

Playwright's own browser download does not work offline, so pytest-playwright launches the system Chromium
(``CHROMIUM_PATH``, default ``/usr/bin/chromium``); without one, every e2e test is skipped.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "e2e: drives the real server in a real browser (Chromium)")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if not Path(CHROMIUM).exists() and not os.environ.get("CI"):  # in CI a missing browser must fail, not skip
        skip = pytest.mark.skip(reason=f"no Chromium at {CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)")
        for item in items:
            if item.get_closest_marker("e2e"):
                item.add_marker(skip)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    return {**browser_type_launch_args, "executable_path": CHROMIUM}


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _fresh_home(tmp_path_factory: pytest.TempPathFactory, name: str) -> Path:
    """A new MIRRORNEURON_HOME whose harvests are shared with the web tests."""
    home = tmp_path_factory.mktemp(name)
    shared = tmp_path_factory.getbasetemp() / "web-harvests"
    shared.mkdir(exist_ok=True)
    (home / "harvests").symlink_to(shared, target_is_directory=True)
    return home


def _env(home: Path) -> dict[str, str]:
    # progression off: the e2e games start at levels 2-3 for new players (test_tutorial_e2e / test_progress test it)
    env = {**os.environ, "MIRRORNEURON_HOME": str(home), "MIRRORNEURON_PROGRESSION": "0"}
    env.pop("MIRRORNEURON_DATABASE_URL", None)
    return env


@contextmanager
def _serving(home: Path) -> Iterator[str]:
    """``mirrorneuron serve`` on a free loopback port with ``home``; yields its URL."""
    port = _free_port()
    log = (home / "server.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "mirrorneuron", "serve", "--port", str(port)], env=_env(home), stdout=log, stderr=log
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/api/health", timeout=1):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"server did not start:\n{(home / 'server.log').read_text()}") from None
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``mirrorneuron serve`` on a free loopback port with a fresh home (harvests shared with the web tests)."""
    with _serving(_fresh_home(tmp_path_factory, "e2e-home")) as url:
        yield url


@pytest.fixture(scope="session")
def registered_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """As ``server``, with a tiny random-config Llama registered (``mirrorneuron models add``) before the
    server starts; yields (URL, the model's name)."""
    name = "e2e-llama"  # its harvest lands in the shared folder: a name no other test uses
    sys.path.insert(0, str(ROOT / "tests" / "integration"))  # the shared tiny-model builders
    from tiny_models import save_tiny_llama, tiny_tokenizer

    home = _fresh_home(tmp_path_factory, "e2e-registered-home")
    folder = save_tiny_llama(tmp_path_factory.mktemp("e2e-hf") / "llama", tiny_tokenizer())
    add = [sys.executable, "-m", "mirrorneuron", "models", "add", f"hf:{folder}", "--name", name]
    done = subprocess.run(add, env=_env(home), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    with _serving(home) as url:
        yield url, name
