"""A newcomer takes the tutorial in a real browser, keyboard only, to the end — on a desktop and on a phone
viewport — then sees it remembered and their progress on the profile page; another skips it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

pytestmark = pytest.mark.e2e
PHONE: dict[str, Any] = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
VERDICT = re.compile(r"^(You beat the mean bot|The mean bot won this time)$")
# A player who reads the reference panel: the value of a reference on the same target token, else the mean.
SMART_GUESS = """() => {
  const target = document.querySelector("#tut-example .tok.target").textContent;
  for (const row of document.querySelectorAll("#tut-hints-body tr")) {
    const tok = row.querySelector(".tok.target");
    if (tok && tok.textContent === target) return row.querySelector("td.num").textContent.replace("+", "");
  }
  const m = document.querySelector("#tut-range").textContent.match(/mean is ([-+]?[0-9]+(?:[.][0-9]+)?)/);
  return m ? m[1].replace("+", "") : "0";
}"""


def watch(page: Page) -> list[str]:
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    return errors


def run_tutorial(page: Page, server: str, shot: Path) -> None:
    page.goto(f"{server}/")
    expect(page.locator("#tutorial-offer")).to_be_visible()
    page.locator("#take-tutorial").focus()
    page.keyboard.press("Enter")
    page.wait_for_url("**/tutorial", timeout=180_000)  # the first visit harvests the default model
    expect(page.get_by_role("button", name="Skip tutorial")).to_be_visible()
    n = 5
    for i in range(n):
        expect(page.locator("#tut-round-title")).to_have_text(f"Round {i + 1} / {n}", timeout=120_000)
        expect(page.locator("#tut-example .tok.target")).to_be_visible()
        if i == 0:
            expect(page.locator("#tut-explain")).to_contain_text("highlighted")
        guess = page.locator("#tut-guess")
        expect(guess).to_be_focused()
        expect(page.get_by_label("Your guess of the activation on the highlighted token")).to_be_visible()
        page.keyboard.type(str(page.evaluate(SMART_GUESS)))
        page.keyboard.press("Enter")
        expect(page.locator("#tut-reveal")).to_be_visible()
        expect(page.locator("#tut-score")).to_contain_text("/100")
        expect(page.locator("#tut-next")).to_be_focused()
        page.keyboard.press("Enter")
        if i == 0:  # step 2: what each level adds, with the real level-1 panel
            levels = page.locator("#tut-levels")
            expect(levels).to_be_visible()
            expect(levels.locator(".tut-level-list li")).to_have_count(4)
            expect(page.locator("#tut-refs tr").nth(1)).to_be_visible()
            expect(page.locator("#tut-continue")).to_be_focused()
            page.keyboard.press("Enter")
    end = page.locator("#tut-end")
    expect(end).to_be_visible()
    expect(page.locator("#tut-verdict")).to_have_text(VERDICT)
    expect(page.locator("#tut-compare")).to_contain_text("the mean bot")
    expect(page.locator("#tut-play")).to_be_focused()
    box = end.bounding_box()
    assert box is not None and box["x"] + box["width"] <= page.viewport_size["width"] + 1  # type: ignore[index]
    page.screenshot(path=str(shot), full_page=True)
    page.goto(f"{server}/")
    expect(page.locator("#tutorial-offer")).to_have_count(0)  # remembered


def test_tutorial_on_a_desktop(page: Page, server: str, artifacts: Path) -> None:
    errors = watch(page)
    page.set_viewport_size({"width": 1280, "height": 900})
    run_tutorial(page, server, artifacts / "tutorial-desktop.png")
    page.goto(f"{server}/me")
    progress = page.locator("#progress")
    expect(progress).to_be_visible()
    expect(progress.locator("#progress-table tr")).to_have_count(2)  # the tutorial unit at level 1
    expect(progress.locator("svg.curve polyline").first).to_be_attached()
    page.screenshot(path=str(artifacts / "profile-desktop.png"), full_page=True)
    assert not errors, errors


def test_tutorial_on_a_phone(browser: Browser, server: str, artifacts: Path) -> None:
    context = browser.new_context(**PHONE)
    try:
        page = context.new_page()
        errors = watch(page)
        run_tutorial(page, server, artifacts / "tutorial-phone.png")
        assert not errors, errors
    finally:
        context.close()


def test_skip_with_the_keyboard(page: Page, server: str) -> None:
    page.goto(f"{server}/tutorial", timeout=180_000)
    expect(page.locator("#tut-guess")).to_be_focused(timeout=120_000)
    page.locator("#skip").focus()
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*/$"))
    expect(page.locator("#tutorial-offer")).to_have_count(0)
