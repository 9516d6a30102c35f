"""The rule editor in a real browser: typing a rule updates the preview, a mistake shows line:column inline,
Save stores a version and shows its held-out score."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.e2e

UNIT = "tiny-gelu/blocks.0.mlp.post/neuron/3"


def test_typing_a_rule_updates_the_preview(page: Page, server: str, artifacts: Path) -> None:
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{server}/units/{UNIT}", timeout=180_000)
    page.get_by_role("link", name="Imitate: write a rule").click()
    page.wait_for_url("**/imitate")
    editor = page.locator("#rule-source")
    editor.fill("0.25")
    cells = page.locator("#preview-rows td.predicted")
    expect(cells.first).to_have_text("+0.250", timeout=120_000)
    expect(cells).to_have_count(16)

    editor.fill('token " the" -> 1\nelse 2 *')  # a mistake on line 2
    expect(page.locator("#rule-error")).to_contain_text("2:9:")
    expect(page.locator("#rule-error")).to_be_visible()

    editor.fill('token " the" -> 1\nelse 0.5')
    expect(page.locator("#rule-error")).to_be_hidden()
    expect(cells.first).not_to_have_text("+0.250")
    assert set(cells.all_inner_texts()) <= {"+1.000", "+0.500"}
    expect(page.locator("#preview-summary")).to_contain_text("on 16 reference examples")

    page.locator("#rule-save").click()
    expect(page.locator("#rule-saved")).to_contain_text("saved version 1: held-out correlation", timeout=120_000)
    expect(page.locator("#versions li")).to_have_count(1)
    page.screenshot(path=str(artifacts / "imitate-editor.png"), full_page=True)
    assert not errors, errors
