"""Unit-choosing policies (``gameplay.serving``) on a small store with planted finder scores and planted
gameplay, and their wiring into surprise games: the policy string stored on the game and exported, study locks
never crossed (a policy that ignores them is caught), a bad policy name refused with a JSON detail, a
first-time player started on the tutorial's obvious unit."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import web_fixtures as fx
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from mirrorneuron.gameplay import serving
from mirrorneuron.gameplay.serving import Choice, choose_unit
from mirrorneuron.store import repo
from mirrorneuron.store.db import make_engine, migrate, session_factory
from mirrorneuron.store.export import guesses_table
from mirrorneuron.store.models import Game, Guess, Player, Round, Study, utcnow
from mirrorneuron.store.scores import save_scores
from mirrorneuron.types import UserError
from mirrorneuron.web import create_app
from mirrorneuron.web.services.tutorial import tutorial_unit
from mirrorneuron.web.settings import WebSettings

web_home, isolated_home, db_url, app = fx.web_home, fx.isolated_home, fx.db_url, fx.app

MODEL = "toy"
UNITS = [f"{MODEL}/l0/neuron/{i}" for i in range(6)]
POLICY_NAMES = ["random", "matched", "bandit", "finder:unigram_r2"]


# --- a small planted store ------------------------------------------------------------------------------------
@pytest.fixture
def store(tmp_path: Path) -> Iterator[Session]:
    engine = make_engine(f"sqlite:///{tmp_path / 'serve.db'}")
    migrate(engine)
    with session_factory(engine)() as s:
        repo.ensure_model(s, MODEL, "text", "c0")
        for i, u in enumerate(UNITS):
            repo.ensure_unit(s, u, MODEL, "l0", "neuron", i, {})
        repo.ensure_examples(s, MODEL, [{"id": "ex0", "harvest_index": 0, "payload": {}}])
        s.commit()
        yield s
    engine.dispose()


def plant_game(s: Session, player: str, unit: str, scores: list[float], points: float = 0.0, total: int = 0) -> None:
    """A finished-or-not feedback game of ``player`` on ``unit``: ``total`` rounds (default len(scores)), the
    first ``len(scores)`` answered with these closeness scores and ``points`` insight points each."""
    if s.get(Player, player) is None:
        s.add(Player(id=player, kind="human"))
        s.flush()
    n = max(total, len(scores))
    rows = [
        {"seq": k, "example_id": "ex0", "example_index": 0, "source": "random", "weight": 1.0, "scale": 1.0,
         "payload": {}, "actual": 0.0}
        for k in range(n)
    ]  # fmt: skip
    game = repo.create_game(s, player, unit, 1, True, 0, rows)
    s.flush()
    rounds = s.scalars(select(Round).where(Round.game_id == game.id).order_by(Round.seq)).all()
    for rnd, sc in zip(rounds, scores, strict=False):
        s.add(Guess(player_id=player, round_id=rnd.id, value=0.0, score=sc, points=points, points_version="1"))
    s.commit()


# --- each policy's choice -------------------------------------------------------------------------------------
def test_finder_policy_picks_the_top_scored_unit_and_falls_back_when_unscored(store: Session) -> None:
    save_scores(store, "unigram_r2", "1", {u: float(i % 4) for i, u in enumerate(UNITS)} | {UNITS[4]: 9.0})
    store.commit()
    for seed in range(5):
        assert choose_unit(store, "finder:unigram_r2", UNITS, seed) == Choice(UNITS[4], "finder:unigram_r2:v1")
    fallback = choose_unit(store, "finder:kurtosis", UNITS, 3)
    assert fallback.policy == "finder:kurtosis:v1>random" and fallback.unit_id in UNITS


def test_matched_gives_a_new_player_an_easy_unit_and_a_strong_player_a_hard_one(store: Session) -> None:
    for unit, closeness in [(UNITS[0], 40.0), (UNITS[1], 95.0), (UNITS[2], 5.0), (UNITS[3], 60.0)]:
        plant_game(store, "others", unit, [closeness] * 30)
    new = choose_unit(store, "matched", UNITS, 0, player_id="newcomer")
    assert new == Choice(UNITS[1], "matched:v1")  # the unit humans imitate best
    plant_game(store, "expert", UNITS[5], [90.0] * 400, points=200.0)
    assert serving.player_skill(store, "expert") > 0.9 > 0.0 == serving.player_skill(store, "newcomer")
    strong = choose_unit(store, "matched", UNITS, 0, player_id="expert")
    assert strong == Choice(UNITS[2], "matched:v1")  # the hardest


def test_matched_first_game_is_the_easiest_even_among_many_unplayed_units(store: Session) -> None:
    many = [f"{MODEL}/l0/neuron/{i}" for i in range(6, 80)]
    for i, u in enumerate(many, start=6):
        repo.ensure_unit(store, u, MODEL, "l0", "neuron", i, {})
    plant_game(store, "others", many[40], [97.0] * 30)
    plant_game(store, "others", many[41], [20.0] * 30)
    picks = {choose_unit(store, "matched", UNITS + many, seed, player_id="new").unit_id for seed in range(8)}
    assert picks == {many[40]}


def test_matched_uses_the_finder_prior_before_gameplay_and_the_easy_rule_with_nothing_known(store: Session) -> None:
    assert choose_unit(store, "matched", UNITS, 0, easy=lambda: UNITS[3]) == Choice(UNITS[3], "matched:v1>easy")
    assert choose_unit(store, "matched", UNITS, 0).policy == "matched:v1>random"
    save_scores(store, "imitability_ridge_l1", "1", {u: -float(i) for i, u in enumerate(UNITS)})
    store.commit()
    assert choose_unit(store, "matched", UNITS, 0, easy=lambda: UNITS[3]) == Choice(UNITS[0], "matched:v1")


def test_bandit_explores_an_unplayed_unit_and_is_deterministic_per_seed(store: Session) -> None:
    for k, unit in enumerate(UNITS[:4]):
        plant_game(store, f"p{k}", unit, [50.0] * 5)
    picks = {seed: choose_unit(store, "bandit", UNITS, seed) for seed in range(12)}
    assert all(c.unit_id in UNITS[4:] and c.policy == "bandit:ucb1:v1" for c in picks.values())
    assert {c.unit_id for c in picks.values()} == set(UNITS[4:])  # the seed breaks ties among unplayed units
    assert all(choose_unit(store, "bandit", UNITS, seed) == c for seed, c in picks.items())


def test_bandit_prefers_the_unit_players_enjoy_once_every_unit_is_played_alike(store: Session) -> None:
    for k, unit in enumerate(UNITS):
        plant_game(store, f"p{k}", unit, [50.0] * (5 if k < 4 else 2), total=5)  # units 4, 5: abandoned
    plant_game(store, "p0", UNITS[0], [50.0] * 5)  # p0 came back to unit 0: a replay
    for k, unit in enumerate(UNITS[1:], start=1):
        plant_game(store, f"q{k}", unit, [50.0] * 5)  # the same number of games on every unit
    rewards = serving.unit_rewards(store, UNITS)
    assert rewards[UNITS[0]] == [1.0, 0.5] and rewards[UNITS[4]] == [0.2, 0.5]
    assert {choose_unit(store, "bandit", UNITS, seed).unit_id for seed in range(6)} == {UNITS[0]}


def test_random_policy_is_seeded_and_every_policy_name_is_checked(store: Session) -> None:
    assert choose_unit(store, "random", UNITS, 5) == choose_unit(store, "random", UNITS, 5)
    assert {choose_unit(store, "random", UNITS, k).unit_id for k in range(40)} == set(UNITS)
    for bad in ["", "best", "finder:", "finder:Bad Name", "bandit:ucb1"]:
        with pytest.raises(ValueError, match="unknown unit policy"):
            choose_unit(store, bad, UNITS, 0)


# --- study locks ----------------------------------------------------------------------------------------------
def never_locked(s: Session) -> None:
    """For every policy, with the unit it would choose locked (then all but one), the choice stays unlocked."""
    save_scores(s, "unigram_r2", "1", {u: float(i) for i, u in enumerate(UNITS)})
    plant_game(s, "p", UNITS[0], [99.0] * 20)
    s.commit()
    for policy in POLICY_NAMES:
        for seed in range(4):
            free = choose_unit(s, policy, UNITS, seed, player_id="p", easy=lambda: UNITS[5])
            for locked in ({free.unit_id}, set(UNITS[1:]), set(UNITS) - {UNITS[2]}):
                got = choose_unit(s, policy, UNITS, seed, locked, "p", easy=lambda: UNITS[5])
                assert got.unit_id not in locked, (policy, seed, locked, got)
    with pytest.raises(UserError, match="locked"):
        choose_unit(s, "random", UNITS, 0, set(UNITS))


def test_policies_never_choose_a_locked_unit(store: Session) -> None:
    never_locked(store)


def test_the_lock_guard_catches_a_policy_ignoring_locks(store: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(serving, "unlocked", lambda candidates, locked: list(candidates))  # the planted fault
    with pytest.raises(AssertionError):
        never_locked(store)


# --- through the web ------------------------------------------------------------------------------------------
class Client:
    def __init__(self, app: FastAPI) -> None:
        self.client = TestClient(app)
        me = self.client.get("/api/players/me").json()
        self.id, self.csrf = me["player_id"], me["csrf_token"]

    def post(self, url: str, body: Any = None) -> Any:
        return self.client.post(url, json=body, headers={"X-CSRF-Token": self.csrf})

    def game(self, **spec: Any) -> dict[str, Any]:
        r = self.post("/api/games", {"rounds": 2, "level": 0, **spec})
        assert r.status_code == 201, r.text
        return dict(r.json())

    def answer_all(self, game_id: str) -> None:
        while not (nxt := self.client.get(f"/api/games/{game_id}/round").json())["done"]:
            rnd = nxt["round"]
            r = self.post(f"/api/rounds/{rnd['round_id']}/guess", {"token": rnd["token"], "value": 0.0})
            assert r.status_code == 200, r.text


@pytest.fixture(scope="module")
def sessions(db_url: str, app: FastAPI) -> Callable[[], Session]:
    TestClient(app).get("/api/home")  # the app migrates its database on first use
    return session_factory(make_engine(db_url))


def stored_policy(sessions: Callable[[], Session], game_id: str) -> str | None:
    with sessions() as s:
        return s.get(Game, game_id).policy  # type: ignore[union-attr]


def test_first_time_player_gets_the_tutorial_unit_and_the_levels_line(tmp_path: Path) -> None:
    fresh = create_app(
        WebSettings(database_url=f"sqlite:///{tmp_path / 'fresh.db'}", secret_key="t", progression=False)
    )
    newcomer = Client(fresh)
    page = newcomer.client.get("/")
    assert 'id="first-game-hint"' in page.text and "less help earns more points" in page.text
    game = newcomer.game()  # nothing known about any unit yet: the tutorial's most token-like neuron
    assert game["unit_id"] == tutorial_unit(fresh.state.mn.units)
    assert 'id="first-game-hint"' not in newcomer.client.get("/").text


def test_finder_policy_game_is_stored_with_its_policy_and_exported(
    app: FastAPI, sessions: Callable[[], Session]
) -> None:
    alice = Client(app)
    first, second = alice.game(policy="random", seed=1), alice.game(policy="random", seed=2)
    assert stored_policy(sessions, first["game_id"]) == "random:v1"
    top = second["unit_id"] if second["unit_id"] != first["unit_id"] else alice.game(policy="random", seed=3)["unit_id"]
    with sessions() as s:
        save_scores(s, "unigram_r2", "1", {first["unit_id"]: 0.1, top: 0.9})
        s.commit()
    game = alice.game(policy="finder:unigram_r2")
    assert game["unit_id"] == top and stored_policy(sessions, game["game_id"]) == "finder:unigram_r2:v1"
    alice.answer_all(game["game_id"])
    with sessions() as s:
        rows = guesses_table(s).to_pylist()
    mine = [r for r in rows if r["game_id"] == game["game_id"] and r["player_id"] == alice.id]
    assert len(mine) == 2 and {r["policy"] for r in mine} == {"finder:unigram_r2:v1"}
    named = alice.game(unit=top)  # a unit the player chose: no policy
    assert stored_policy(sessions, named["game_id"]) is None
    default = alice.game()
    assert stored_policy(sessions, default["game_id"]) == "matched:v1"


def test_surprise_games_skip_units_an_open_study_locks(app: FastAPI, sessions: Callable[[], Session]) -> None:
    bob = Client(app)
    candidates = app.state.mn.units.lively_units("tiny-gelu")
    keep, rest = candidates[0], candidates[1:]
    with sessions() as s:
        owner = repo.ensure_player(s, None).id
        studies = [
            repo.create_study(
                s,
                repo.StudyConfig(
                    name="lock", units=rest[k : k + 1000], levels=[0], rounds_per_unit=1, practice_rounds=0
                ),
                owner,
            )
            for k in range(0, len(rest), 1000)
        ]
        s.commit()
        ids = [st.id for st in studies]
    try:
        for policy in POLICY_NAMES:
            game = bob.game(policy=policy, seed=4)
            assert game["unit_id"] == keep, policy
    finally:
        with sessions() as s:
            for study_id in ids:
                s.get(Study, study_id).closed_at = utcnow()  # type: ignore[union-attr]
            s.commit()


@pytest.mark.parametrize(
    ("body", "needle"),
    [({"policy": "best"}, "unknown unit policy"), ({"policy": "finder:"}, "unknown unit policy"),
     ({"policy": "random", "unit": "blocks.0.mlp.post/3"}, "surprise units")],
)  # fmt: skip
def test_bad_policy_is_a_422_with_a_json_detail(app: FastAPI, body: dict[str, Any], needle: str) -> None:
    r = Client(app).post("/api/games", {"rounds": 2, **body})
    assert r.status_code == 422 and needle in str(r.json()["detail"])
