"""A newcomer plays in a real browser against the real server, with the keyboard only."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.e2e
GUESSES = ["0.1", "-0.05", "0.3", "0", "0.2"]


def test_newcomer_plays_five_rounds_with_the_keyboard(page: Page, server: str, artifacts: Path) -> None:
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)  # e.g. CSP violations
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{server}/?rounds=5")
    expect(page.get_by_role("heading", name="Imitate a neuron")).to_be_visible()
    expect(page.locator("#start")).to_be_focused()  # Enter starts a game
    page.screenshot(path=str(artifacts / "e2e-home.png"), full_page=True)
    page.keyboard.press("Enter")
    page.wait_for_url("**/play/**", timeout=120_000)

    for i, guess in enumerate(GUESSES):
        expect(page.locator("#round-title")).to_have_text(f"Round {i + 1} / 5")
        expect(page.locator("#example .tok.target")).to_be_visible()
        expect(page.locator("#guess")).to_be_focused()
        if i == 0:
            page.screenshot(path=str(artifacts / "e2e-round.png"), full_page=True)
        page.keyboard.type(guess)
        page.keyboard.press("Enter")
        expect(page.locator("#reveal")).to_be_visible()
        expect(page.locator("#r-actual")).not_to_be_empty()
        expect(page.locator("#r-score")).to_contain_text("/100")  # closeness, beside the insight points
        expect(page.locator("#r-points")).to_have_text(re.compile(r"^\+\d+ of \d+ pts$"))
        if i == 0:
            expect(page.locator("#r-window .tok").first).to_be_visible()
            page.screenshot(path=str(artifacts / "e2e-reveal.png"), full_page=True)
        expect(page.locator("#scatter circle")).to_have_count(i + 1)
        page.keyboard.press("Enter")

    summary = page.locator("#summary")
    expect(summary).to_be_visible()
    expect(page.locator("#round-title")).to_have_text("Game over")
    for name in ("you", "mean", "unigram", "knn", "ridge"):
        expect(summary.locator("td", has_text=name).first).to_be_visible()
    expect(summary).to_contain_text("over 5 rounds")
    expect(summary.locator("p.lead")).to_contain_text(re.compile(r"insight \d+ of \d+ points"))
    page.screenshot(path=str(artifacts / "e2e-summary.png"), full_page=True)
    assert not errors, errors


def test_digit_round_in_the_browser(page: Page, server: str, artifacts: Path) -> None:
    page.goto(f"{server}/?model=digits-mlp&rounds=1&level=2")
    page.keyboard.press("Enter")
    page.wait_for_url("**/play/**", timeout=120_000)
    expect(page.locator("#example svg.digit rect")).to_have_count(64)
    expect(page.locator("#hints")).to_contain_text("Neighbours on this example")
    page.screenshot(path=str(artifacts / "e2e-digit.png"), full_page=True)
    page.keyboard.type("0.5")
    page.keyboard.press("Enter")
    expect(page.locator("#reveal")).to_be_visible()
    page.keyboard.press("Enter")
    expect(page.locator("#summary")).to_be_visible()
