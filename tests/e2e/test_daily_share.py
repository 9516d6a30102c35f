"""The daily unit and its share link in a real browser, on a desktop and on a phone (390 × 844, touch):
controls have accessible names, the reveal is announced, the phone never scrolls sideways and its tap
targets are at least 44 px tall. Screenshots go to test-artifacts/."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from mirrorneuron.gameplay.daily import DAILY_ROUNDS

pytestmark = pytest.mark.e2e
VIEWPORTS: dict[str, dict[str, Any]] = {
    "desktop": {"viewport": {"width": 1280, "height": 900}},
    "phone": {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True, "device_scale_factor": 2},
}
WIDEST = """() => [...document.querySelectorAll("body *")]
  .filter((e) => e.getBoundingClientRect().right > document.documentElement.clientWidth + 0.5)
  .slice(-5).map((e) => `${e.tagName}#${e.id}.${e.className} right=${Math.round(e.getBoundingClientRect().right)}`)"""
TAPPABLE = "main button:visible, main a.button:visible, main input:visible, header nav a:visible"


def no_sideways_scroll(page: Page) -> None:
    width = page.evaluate("() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    wide = page.evaluate(WIDEST) if width[0] > width[1] else []
    assert width[0] <= width[1], f"horizontal overflow: scrollWidth {width[0]} > clientWidth {width[1]}: {wide}"


def tap_targets_ok(page: Page) -> None:
    small = [
        (c.evaluate("e => e.outerHTML.slice(0, 80)"), box["height"])
        for c in page.locator(TAPPABLE).all()
        if (box := c.bounding_box()) is not None and box["height"] < 44
    ]
    assert not small, f"tap targets under 44 px: {small}"


def check_phone(page: Page, phone: bool) -> None:
    if phone:
        no_sideways_scroll(page)
        tap_targets_ok(page)


@pytest.mark.parametrize("device", list(VIEWPORTS))
def test_play_the_daily_unit_and_open_its_share_link(browser: Browser, server: str, artifacts: Path, device: str) -> None:
    context = browser.new_context(**VIEWPORTS[device])
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)  # e.g. CSP violations
    phone = device == "phone"

    page.goto(f"{server}/daily", timeout=240_000)  # the first visit harvests the default model
    expect(page.get_by_role("heading", name=re.compile(r"^Daily unit · \d{4}-\d\d-\d\d$"))).to_be_visible()
    expect(page.get_by_role("link", name="Daily")).to_be_visible()
    check_phone(page, phone)
    page.get_by_role("button", name=re.compile("Play today's unit")).click()
    page.wait_for_url("**/play/**", timeout=120_000)

    guess = page.get_by_role("textbox", name=re.compile("Your guess of the activation"))
    submit = page.get_by_role("button", name="Submit your guess")
    for i in range(DAILY_ROUNDS):
        expect(page.locator("#round-title")).to_have_text(f"Round {i + 1} / {DAILY_ROUNDS}")
        expect(guess).to_be_focused()  # keyboard-only play: the guess box takes the focus each round
        expect(submit).to_be_visible()
        if i == 0:
            check_phone(page, phone)
        page.keyboard.type(f"{0.1 * (i % 4):.1f}")
        page.keyboard.press("Enter")
        expect(page.locator("#reveal")).to_be_visible()
        expect(page.get_by_role("status").filter(has_text="Truth")).to_have_text(re.compile(r"^Truth [+-]\d\.\d{3}\. Your guess"))
        if i == 0:
            expect(page.locator("#r-window .tok").first).to_be_visible()
            expect(page.locator("#r-window-note")).to_contain_text("thicker underline")
            check_phone(page, phone)
            page.screenshot(path=str(artifacts / f"play-{device}.png"), full_page=True)
        expect(page.get_by_role("button", name=re.compile("^(Next|See the summary)"))).to_be_focused()
        page.keyboard.press("Enter")

    expect(page.locator("#summary")).to_be_visible()
    copy = page.get_by_role("button", name="Copy the share link")
    expect(copy).to_be_visible()
    link = page.get_by_role("textbox", name=re.compile("Share your result"))
    expect(link).to_have_value(re.compile(rf"^{re.escape(server)}/share/[\w-]+\.[\w-]+$"))
    check_phone(page, phone)
    url = link.input_value()

    page.goto(f"{server}/daily")  # a second visit replays nothing: the result and the share link
    expect(page.get_by_role("link", name="See your result")).to_be_visible()
    expect(page.get_by_role("textbox", name=re.compile("Share your result"))).to_have_value(url)
    expect(page.get_by_role("table")).to_contain_text("you")
    check_phone(page, phone)
    page.screenshot(path=str(artifacts / f"daily-{device}.png"), full_page=True)

    page.goto(url)
    expect(page.get_by_role("heading", name=re.compile("imitated a neuron$"))).to_be_visible()
    expect(page.locator('meta[property="og:title"]')).to_have_attribute("content", re.compile("imitated a neuron"))
    expect(page.locator('meta[property="og:url"]')).to_have_attribute("content", url)
    expect(page.get_by_role("table")).to_contain_text("ridge")  # the bots on the same rounds
    expect(page.get_by_role("button", name="Copy the share link")).to_be_visible()
    check_phone(page, phone)
    page.screenshot(path=str(artifacts / f"share-{device}.png"), full_page=True)
    assert not errors, errors
    context.close()
