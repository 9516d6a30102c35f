"""The analysis report in a real browser: the HTML file `mirrorneuron analyze` writes and the web page served
by `mirrorneuron serve`, both on one store of simulated gameplay. Every section heading is visible, every
figure decodes, and screenshots are kept in test-artifacts/."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from mirrorneuron.analysis.simstore import write_simulation
from mirrorneuron.analysis.simulate import SimConfig, simulate
from mirrorneuron.store.db import make_engine, migrate

pytestmark = pytest.mark.e2e
CONFIG = SimConfig(n_players=80, n_units=90, games_per_player=4, seed=11)  # > 60 units: the forest is cut


def _e2e_conftest(config: pytest.Config) -> ModuleType:
    """tests/e2e/conftest.py as loaded by pytest (its server helpers)."""
    here = Path(__file__).with_name("conftest.py")
    for plugin in config.pluginmanager.get_plugins():
        if isinstance(plugin, ModuleType) and Path(getattr(plugin, "__file__", "") or "") == here:
            return plugin
    raise RuntimeError("tests/e2e/conftest.py is not loaded")


@pytest.fixture(scope="module")
def analysis_site(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Path]]:
    """A home whose store holds a simulation, its CLI report, and the server on it: (URL, index.html)."""
    e2e = _e2e_conftest(request.config)
    home: Path = e2e._fresh_home(tmp_path_factory, "e2e-analysis-home")
    engine = make_engine(f"sqlite:///{home / 'mirrorneuron.db'}")
    migrate(engine)
    write_simulation(engine, simulate(CONFIG), tag="e2e")
    engine.dispose()
    out = home / "report"
    cmd = [sys.executable, "-m", "mirrorneuron", "analyze", "--out", str(out)]
    # the CLI report runs while the server starts: both only read the simulated store
    pipe = subprocess.PIPE
    with subprocess.Popen(cmd, env=e2e._env(home), stdout=pipe, stderr=pipe, text=True) as cli:
        try:
            with e2e._serving(home) as url:
                stdout, stderr = cli.communicate(timeout=300)
                assert cli.returncode == 0, stdout + stderr
                yield url, out / "index.html"
        finally:
            cli.kill()  # no-op once it has exited


def check_report(page: Page, twin: dict[str, Any]) -> None:
    """Every section heading visible; every figure loaded with real pixels, one per section that has one."""
    assert twin["sections"]
    for s in twin["sections"]:
        expect(page.get_by_role("heading", name=s["title"], exact=True)).to_be_visible()
        expect(page.locator(f"section#{s['key']}")).to_be_visible()
    expect(page.get_by_role("heading", name="Contents")).to_be_visible()
    figures = page.locator("img.figure")
    expect(figures).to_have_count(sum(s["figure"] is not None for s in twin["sections"]))
    sizes = figures.evaluate_all("imgs => imgs.map(i => [i.complete, i.naturalWidth, i.naturalHeight])")
    assert sizes and all(ok and w > 100 and h > 100 for ok, w, h in sizes), sizes


def test_the_cli_report_in_chromium(page: Page, analysis_site: tuple[str, Path], artifacts: Path) -> None:
    _, index = analysis_site
    twin = json.loads((index.parent / "report.json").read_text())
    assert all(s["enough_data"] for s in twin["sections"] if s["key"] in ("difficulty", "levels", "skill"))
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(index.as_uri())
    check_report(page, twin)
    page.screenshot(path=str(artifacts / "analysis-report.png"), full_page=True)


def test_the_web_page_in_chromium(page: Page, analysis_site: tuple[str, Path], artifacts: Path) -> None:
    url, _ = analysis_site
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)  # e.g. CSP refusals
    with urllib.request.urlopen(f"{url}/api/analysis", timeout=120) as r:
        twin = json.loads(r.read())
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{url}/")
    page.get_by_role("link", name="Analysis").click()
    page.wait_for_url("**/analysis")
    check_report(page, twin)
    page.screenshot(path=str(artifacts / "analysis-web.png"), full_page=True)
    assert not errors, errors


def test_the_demo_report_has_every_section_with_data(page: Page, tmp_path: Path, artifacts: Path) -> None:
    """`mirrorneuron analyze demo`: simulated humans, bots, models and finders fill every section (none says
    "Not enough data"), and the page renders each one with its figure."""
    out = tmp_path / "demo"
    done = subprocess.run(
        [sys.executable, "-m", "mirrorneuron", "analyze", "demo", "--out", str(out)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    twin = json.loads((out / "report.json").read_text())
    from mirrorneuron.analysis.report import SECTION_BUILDERS

    assert len(twin["sections"]) == len(SECTION_BUILDERS)
    assert [s["key"] for s in twin["sections"] if not s["enough_data"]] == []
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto((out / "index.html").as_uri())
    check_report(page, twin)
    for s in twin["sections"]:  # no section-level "Not enough data" note (single table rows may still say so)
        expect(page.locator(f"section#{s['key']}")).not_to_contain_text("Not enough data:")
    page.screenshot(path=str(artifacts / "analysis-report-demo.png"), full_page=True)
