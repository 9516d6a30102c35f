"""A registered Hugging Face model (tiny random-config Llama) picked on the home page and played in Chromium."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.e2e
ROUNDS = 3


def test_pick_a_registered_model_and_play_it_with_the_keyboard(
    page: Page, registered_server: tuple[str, str], artifacts: Path
) -> None:
    server, model = registered_server
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{server}/?rounds={ROUNDS}")
    card = page.locator("label.choice", has=page.locator(f'input[name="model"][value="{model}"]'))
    expect(card).to_contain_text("registered")
    card.click()
    expect(card.locator("input")).to_be_checked()
    page.screenshot(path=str(artifacts / "e2e-registered-home.png"), full_page=True)
    page.locator("#start").focus()
    page.keyboard.press("Enter")
    page.wait_for_url("**/play/**", timeout=120_000)
    expect(page.locator(".playhead code")).to_contain_text(f"{model}/")  # the unit's id starts with the model

    for i in range(ROUNDS):
        expect(page.locator("#round-title")).to_have_text(f"Round {i + 1} / {ROUNDS}")
        expect(page.locator("#example .tok.target")).to_be_visible()
        expect(page.locator("#guess")).to_be_focused()
        page.keyboard.type("0.01")
        page.keyboard.press("Enter")
        expect(page.locator("#reveal")).to_be_visible()
        expect(page.locator("#r-score")).to_contain_text("/100")
        if i == 0:
            expect(page.locator("#r-window .tok").first).to_be_visible()
            page.screenshot(path=str(artifacts / "e2e-registered-reveal.png"), full_page=True)
        page.keyboard.press("Enter")

    summary = page.locator("#summary")
    expect(summary).to_be_visible()
    expect(page.locator("#round-title")).to_have_text("Game over")
    expect(summary).to_contain_text(f"over {ROUNDS} rounds")
    page.screenshot(path=str(artifacts / "e2e-registered-summary.png"), full_page=True)
    assert not errors, errors
