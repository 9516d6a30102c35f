"""The module page in a real browser: after saving an imitation, the page draws the unit graph (imitated unit
marked) and the recovery curve, suggests a unit, and campaign mode starts a game on it."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.e2e

UNIT = "tiny-gelu/blocks.0.mlp.post/neuron/38"
RULE = 'token " an" -> 2.80, " no" -> 2.23, "No" -> 1.98, " d" -> 1.95\nelse -0.11'


def test_module_page_draws_graph_curve_and_runs_a_campaign(page: Page, server: str, artifacts: Path) -> None:
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{server}/units/{UNIT}/imitate", timeout=180_000)
    page.locator("#rule-source").fill(RULE)
    page.locator("#rule-save").click()
    expect(page.locator("#rule-saved")).to_contain_text("saved version 1", timeout=180_000)

    page.goto(f"{server}/modules", timeout=60_000)
    page.get_by_role("link", name="Modules").first.click()
    page.locator("button[type=submit]").click()
    page.get_by_role("link", name="blocks.0.mlp.post").click(timeout=400_000)  # finding modules: seconds
    expect(page.locator("#module-view[data-loaded='1']")).to_have_count(1, timeout=400_000)
    expect(page.locator("#module-graph circle.node")).to_have_count(256)
    # ≥ 1: other browser tests in the same home (the editor's) may have imitated units of this layer too
    expect(page.locator("#module-graph circle.imitated")).not_to_have_count(0)
    expect(page.locator("#module-curve polyline.curve")).to_have_count(1)
    expect(page.locator("#module-curve .baseline")).to_have_count(3)
    suggested = page.locator("#suggested-unit")
    expect(suggested).to_be_visible()
    nxt = suggested.get_attribute("data-unit")
    assert nxt and nxt != UNIT
    page.screenshot(path=str(artifacts / "module-view.png"), full_page=True)

    page.locator("#campaign-link").click()
    expect(page.locator("#campaign-progress")).to_contain_text("1 of 256 units imitated", timeout=400_000)
    page.locator("#campaign-play").click()
    page.wait_for_url("**/play/*", timeout=120_000)
    assert not errors, errors
