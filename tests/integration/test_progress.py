"""Progression: the mastery threshold against a hand-computed correlation, a planted perfect player masters and
unlocks the next level, a mean guesser never masters (but unlocks after enough rounds), and a locked level or
unit family is refused with a 403 JSON ``detail`` when the server enforces progression."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import pytest
import web_fixtures as fx
from api_player import ApiPlayer
from fastapi import FastAPI

from mirrorneuron.store import progress as pr
from mirrorneuron.store import repo
from mirrorneuron.web import create_app
from mirrorneuron.web.settings import WebSettings

web_home, isolated_home, db_url = fx.web_home, fx.isolated_home, fx.db_url
UNIT = "tiny-gelu/blocks.0.mlp.post/neuron/3"
AT = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def app(db_url: str) -> FastAPI:
    """This module's app enforces progression (the default server does not) and lets guesses come fast."""
    return create_app(
        WebSettings(database_url=db_url, secret_key="test-secret", progression=True, guess_rate=1e4, guess_burst=1e4)
    )


# --- the rule, by hand -------------------------------------------------------------------------------------
def pearson(a: list[float], b: list[float]) -> float:
    """The textbook formula, written out."""
    n = len(a)
    ma, mb = sum(a) / n, sum(b) / n
    cov = sum((x - ma) * (y - mb) for x, y in zip(a, b, strict=True))
    va, vb = sum((x - ma) ** 2 for x in a), sum((y - mb) ** 2 for y in b)
    return cov / math.sqrt(va * vb)


def plays(actual: list[float], guesses: list[float], unit: str = UNIT, level: int = 1) -> list[pr.Play]:
    return [pr.Play(unit, level, a, g, 50.0, 1.0, AT) for a, g in zip(actual, guesses, strict=True)]


def noisy(c: float) -> tuple[list[float], list[float]]:
    """actual 0..19; guess = actual + c·n with n = +1 −1 −1 +1 … (zero mean, orthogonal to actual), so the
    correlation is sd(a) / sqrt(var(a) + c²) with var(a) = (20² − 1) / 12 = 33.25."""
    actual = [float(i) for i in range(pr.MASTERY_WINDOW)]
    n = [(1.0, -1.0, -1.0, 1.0)[i % 4] for i in range(pr.MASTERY_WINDOW)]
    return actual, [a + c * x for a, x in zip(actual, n, strict=True)]


C_AT_THRESHOLD = math.sqrt(33.25 * (1 / pr.MASTERY_CORRELATION**2 - 1))  # correlation exactly 0.8


@pytest.mark.parametrize(("factor", "mastered"), [(0.98, True), (1.02, False)])
def test_mastery_threshold_hand_computed(factor: float, mastered: bool) -> None:
    actual, guesses = noisy(C_AT_THRESHOLD * factor)
    expected = math.sqrt(33.25) / math.sqrt(33.25 + (C_AT_THRESHOLD * factor) ** 2)
    assert pearson(actual, guesses) == pytest.approx(expected, rel=1e-12)
    assert (expected >= 0.8) is mastered
    p = pr.level_progress(UNIT, 1, plays(actual, guesses))
    assert p.correlation == pytest.approx(expected, rel=1e-9)
    assert p.mastered is mastered and p.mastered_at_round == (20 if mastered else None)


def test_mastery_needs_a_full_window_and_is_kept() -> None:
    actual, guesses = noisy(0.0)  # perfect
    short = pr.level_progress(UNIT, 1, plays(actual[:19], guesses[:19]))
    assert short.correlation == pytest.approx(1.0) and not short.mastered  # 19 rounds: not yet
    assert short.to_mastery == pytest.approx(19 / 20)
    later = [*plays(actual, guesses), *plays([1.0, 2.0, 3.0] * 10, [0.5] * 30)]  # then 30 constant guesses
    p = pr.level_progress(UNIT, 1, later)
    assert p.mastered and p.mastered_at_round == 20 and p.correlation == 0.0 and p.to_mastery == 1.0


def test_unlock_rules() -> None:
    actual, perfect = noisy(0.0)
    none: dict[tuple[str, int], pr.LevelProgress] = {}
    assert pr.lock_reason(none, UNIT, 0) is None and pr.lock_reason(none, UNIT, 1) is None
    assert "level 2" in (pr.lock_reason(none, UNIT, 2) or "")
    mastered = pr.progress_of(plays(actual, perfect))
    assert pr.lock_reason(mastered, UNIT, 2) is None
    assert "level 3" in (pr.lock_reason(mastered, UNIT, 3) or "")  # level 3 needs level 2, not level 1
    other = UNIT.replace("neuron/3", "neuron/4")
    assert pr.lock_reason(mastered, other, 2) is not None  # per unit
    many = pr.progress_of(plays([float(i % 3) for i in range(30)], [0.0] * 30))
    assert pr.lock_reason(many, UNIT, 2) is None and not many[(UNIT, 1)].mastered  # 30 rounds unlock too
    assert pr.lock_reason(pr.progress_of(plays([float(i % 3) for i in range(29)], [0.0] * 29)), UNIT, 2) is not None
    direction = "tiny-gelu/blocks.1.resid.post/direction/d"
    assert "direction units unlock after your first mastery" in (pr.lock_reason(many, direction, 0) or "")
    assert pr.lock_reason(mastered, direction, 0) is None


# --- through the API ---------------------------------------------------------------------------------------
class Player(ApiPlayer):
    def play(self, rounds: int, guess: str) -> None:
        """A level-1 game on UNIT: ``perfect`` guesses read the truth from the store (a planted oracle);
        ``mean`` guesses the level-0 mean every round."""
        r = self.post("/api/games", {"unit": UNIT, "level": 1, "rounds": rounds})
        assert r.status_code == 201, r.text
        game_id = r.json()["game_id"]
        while not (nxt := self.client.get(f"/api/games/{game_id}/round").json())["done"]:
            rnd = nxt["round"]
            if guess == "perfect":
                with self.sessions() as s:
                    value = repo.get_round(s, rnd["round_id"]).actual
            else:
                value = rnd["hints"]["stats"]["mean"]
            g = self.post(f"/api/rounds/{rnd['round_id']}/guess", {"token": rnd["token"], "value": value})
            assert g.status_code == 200, g.text

    def progress(self) -> dict[str, Any]:
        r = self.client.get("/api/players/me/progress")
        assert r.status_code == 200
        return dict(r.json())

    def level(self, level: int) -> dict[str, Any]:
        unit = next(u for u in self.progress()["units"] if u["unit_id"] == UNIT)
        return dict(next(lv for lv in unit["levels"] if lv["level"] == level))


def test_locked_level_refused_and_unlocked_by_mastery(app: FastAPI, db_url: str) -> None:
    ada = Player(app, db_url)
    r = ada.post("/api/games", {"unit": UNIT, "level": 2, "rounds": 2})
    assert r.status_code == 403
    assert r.json()["detail"].startswith(f"level 2 of {UNIT} is locked: master level 1")
    assert ada.post("/api/games", {"unit": UNIT, "level": 3, "rounds": 2}).status_code == 403
    assert ada.progress()["rules"]["enforced"] is True
    ada.play(pr.MASTERY_WINDOW, "perfect")
    lv1 = ada.level(1)
    assert lv1["mastered"] and lv1["mastered_at_round"] == pr.MASTERY_WINDOW
    assert lv1["correlation"] == pytest.approx(1.0) and lv1["next_level_unlocked"] is True
    assert ada.progress()["mastered"] == [f"{UNIT} · level 1"] and ada.progress()["families_unlocked"]
    assert ada.post("/api/games", {"unit": UNIT, "level": 2, "rounds": 2}).status_code == 201
    assert ada.post("/api/games", {"unit": UNIT, "level": 3, "rounds": 2}).status_code == 403  # needs level 2
    page = ada.client.get("/me")
    assert page.status_code == 200 and f"{UNIT} · level 1" in page.text and 'id="progress-table"' in page.text
    assert page.text.count("<polyline") >= 2  # learning curves: closeness and points per round


def test_mean_guesser_never_masters_but_unlocks_after_rounds(app: FastAPI, db_url: str) -> None:
    bob = Player(app, db_url)
    bob.play(pr.UNLOCK_AFTER_ROUNDS - 1, "mean")
    lv1 = bob.level(1)
    assert not lv1["mastered"] and lv1["correlation"] == 0.0 and lv1["to_mastery"] == 0.0
    assert bob.progress()["mastered"] == [] and not bob.progress()["families_unlocked"]
    assert bob.post("/api/games", {"unit": UNIT, "level": 2, "rounds": 2}).status_code == 403
    bob.play(1, "mean")
    assert not bob.level(1)["mastered"] and bob.level(1)["rounds"] == pr.UNLOCK_AFTER_ROUNDS
    assert bob.post("/api/games", {"unit": UNIT, "level": 2, "rounds": 2}).status_code == 201


def test_other_players_do_not_see_your_progress(app: FastAPI, db_url: str) -> None:
    cy, dee = Player(app, db_url), Player(app, db_url)
    cy.play(2, "mean")
    assert UNIT in cy.client.get("/me").text
    other = dee.client.get(f"/players/{cy.id}")
    assert other.status_code == 200 and 'id="progress"' not in other.text


def test_server_with_progression_off_does_not_enforce(db_url: str) -> None:
    """The planted fault for the guard above: with progression off the same request starts the game, so the
    403s come from the check and nothing else."""
    lax = create_app(WebSettings(database_url=db_url, secret_key="test-secret", progression=False))
    eve = Player(lax, db_url)
    assert eve.post("/api/games", {"unit": UNIT, "level": 2, "rounds": 1}).status_code == 201
    assert eve.progress()["rules"]["enforced"] is False


def test_no_feedback_rounds_do_not_count(app: FastAPI, db_url: str) -> None:
    """A correlation moving after each no-feedback guess would tell what the game withholds."""
    fay = Player(app, db_url)
    r = fay.post("/api/games", {"unit": UNIT, "level": 1, "rounds": 2, "feedback": False})
    assert r.status_code == 201
    game_id = r.json()["game_id"]
    while not (nxt := fay.client.get(f"/api/games/{game_id}/round").json())["done"]:
        rnd = nxt["round"]
        assert fay.post(f"/api/rounds/{rnd['round_id']}/guess", {"token": rnd["token"], "value": 0.5}).status_code == 200
    assert fay.progress()["units"] == []
    fay.play(2, "mean")
    assert fay.level(1)["rounds"] == 2
