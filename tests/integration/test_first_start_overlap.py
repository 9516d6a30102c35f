"""Issue 14's first start: ``play --terminal`` opens the unit (the first harvest) on a thread while the store is
opened, and the browser ``play`` makes the first game's harvest while its server starts; both games as before."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

import mirrorneuron.units as units_pkg
from mirrorneuron import cli_play
from mirrorneuron.cli import app
from mirrorneuron.harvest import run
from mirrorneuron.models.loader import zoo_adapter
from mirrorneuron.store import db
from mirrorneuron.units import HarvestedUnit

PLAY = ["play", "--terminal", "--unit", "blocks.0.mlp.post/3", "--level", "1", "--rounds", "1", "--seed", "1"]


def _slow_open_and_spy_migrate(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Opening the unit takes ≥ 1 s; record, at each migration, whether the unit was still being opened."""
    opening = threading.Event()
    open_unit = units_pkg.open_unit

    def slow(*args: object, **kwargs: object) -> HarvestedUnit:
        opening.set()
        time.sleep(1.0)
        try:
            return open_unit(*args, **kwargs)  # type: ignore[arg-type]
        finally:
            opening.clear()

    during: list[bool] = []
    migrate = db.migrate

    def spy(engine: object) -> None:
        during.append(opening.is_set())
        migrate(engine)  # type: ignore[arg-type]

    monkeypatch.setattr(units_pkg, "open_unit", slow)
    monkeypatch.setattr(db, "migrate", spy)
    monkeypatch.setattr("mirrorneuron.gameplay.local.migrate", spy)
    return during


def test_terminal_game_opens_the_store_while_the_unit_opens(small_lm: str, monkeypatch: pytest.MonkeyPatch) -> None:
    during = _slow_open_and_spy_migrate(monkeypatch)
    result = CliRunner().invoke(app, PLAY, input="0.1\n")
    assert result.exit_code == 0, result.output
    assert "truth" in result.output and "stored as game" in result.output  # the game as before
    assert during and during[0]  # the store was migrated while the unit was still opening


def test_overlap_guard_catches_a_unit_opened_before_the_store(small_lm: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Plant the fault: ``open_ahead`` opens the unit in line (the order before issue 14)."""
    during = _slow_open_and_spy_migrate(monkeypatch)
    ahead = cli_play.open_ahead

    def in_line(model: str, unit: str | None, seed: int | None) -> Callable[[], HarvestedUnit]:
        ctx = ahead(model, unit, seed)()
        return lambda: ctx

    monkeypatch.setattr(cli_play, "open_ahead", in_line)
    result = CliRunner().invoke(app, PLAY, input="0.1\n")
    assert result.exit_code == 0, result.output
    assert during and not during[0]  # what the test above asserts against


def _count_harvests(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    made: list[int] = []
    pipeline = run.StatsPipeline

    def counted(*args: object, **kwargs: object) -> run.StatsPipeline:
        made.append(1)
        time.sleep(0.5)  # the early harvest is still running when the game asks
        return pipeline(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(run, "StatsPipeline", counted)
    return made


def test_browser_games_first_harvest_starts_early_and_is_made_once(
    small_lm: str, isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mirrorneuron.web.unitcache import UnitCache

    made = _count_harvests(monkeypatch)
    cli_play.harvest_ahead(zoo_adapter(small_lm), None)
    deadline = time.time() + 10
    while not made and time.time() < deadline:  # the early harvest has started
        time.sleep(0.01)
    h = UnitCache().harvest(small_lm)  # the first game: waits for it, then finds it done
    assert h.manifest["complete"] and len(made) == 1


def test_browser_game_makes_no_early_harvest_for_other_unit_kinds(
    small_lm: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = _count_harvests(monkeypatch)
    cli_play.harvest_ahead(zoo_adapter(small_lm), "tiny-gelu/resid.1/probe/p")
    time.sleep(0.3)
    assert not made
