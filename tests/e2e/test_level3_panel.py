"""The level-3 panel in a real browser: the formula, each part's terms, and the stored precision."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.e2e


def test_level3_panel_shows_the_formula_and_precision(page: Page, server: str, artifacts: Path) -> None:
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{server}/?model=digits-mlp&rounds=1&level=3")
    page.keyboard.press("Enter")
    page.wait_for_url("**/play/**", timeout=120_000)
    hints = page.locator("#hints")
    expect(hints).to_contain_text("Level 3: weight × input — value = ")
    expect(hints).to_contain_text("(Σ terms + bias); stored as float16")
    expect(hints).to_contain_text("pre-activation = Σ + bias")
    expect(hints).to_contain_text("The true value is stored as float16.")
    page.screenshot(path=str(artifacts / "e2e-level3.png"), full_page=True)
    assert not errors, errors
