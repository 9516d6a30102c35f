"""Fixtures shared by the web test modules: one home per module, harvests shared across the session.

A module uses them by assigning ``web_home, isolated_home, db_url, app = fx.web_home, fx.isolated_home, ...``
at module level (as with ``store_fixtures``), so each module gets its own home, database and app.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI

from mirrorneuron.web import create_app
from mirrorneuron.web.settings import WebSettings


@pytest.fixture(scope="module")
def web_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One home per module; harvests are shared by every web test module of the session."""
    home = tmp_path_factory.mktemp("web-home")
    shared = tmp_path_factory.getbasetemp() / "web-harvests"
    shared.mkdir(exist_ok=True)
    (home / "harvests").symlink_to(shared, target_is_directory=True)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MIRRORNEURON_HOME", str(home))
        yield home


@pytest.fixture(autouse=True)
def isolated_home(web_home: Path) -> Path:
    """Overrides the suite's per-test home: the tests of a module share the app's home."""
    return web_home


@pytest.fixture(scope="module")
def db_url(web_home: Path) -> str:
    return f"sqlite:///{web_home / 'web.db'}"


@pytest.fixture(scope="module")
def app(db_url: str) -> FastAPI:
    # progression off: these tests start games at every level for brand-new players (test_progress.py tests it on)
    return create_app(WebSettings(database_url=db_url, secret_key="test-secret", progression=False))
