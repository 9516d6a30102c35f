"""Stored insight points on SQLite and a real Postgres: ``submit_guess`` and ``record_guesses`` store the points
and their formula version beside the unchanged closeness score; rows from before migration 0003 keep null points."""

from __future__ import annotations

from typing import Any

import pytest
import store_fixtures as fx
from alembic import command
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from mirrorneuron.game.scoring import POINTS_VERSION, round_score
from mirrorneuron.store import history, repo
from mirrorneuron.store.db import alembic_config, make_engine, migrate, session_factory
from mirrorneuron.store.models import Guess

pg_server, store_engine, sessions = fx.pg_server, fx.store_engine, fx.sessions

MEAN, SCALE = 0.5, 2.0


def game_with_mean(s: Session, actuals: list[float], level: int, mean: float | None = MEAN) -> repo.Game:
    """A committed game whose round payloads carry the level-0 mean, as ``Round.to_dict`` does."""
    player = repo.ensure_player(s, None)
    unit_id, examples = fx.seed_unit(s, n_examples=len(actuals))
    rounds = fx.round_dicts(examples, actuals, scale=SCALE)
    for r in rounds:
        r["payload"]["hints"] = {} if mean is None else {"stats": {"mean": mean, "scale": SCALE}}
    game = repo.create_game(s, player.id, unit_id, level=level, feedback=True, seed=0, rounds=rounds)
    s.commit()
    return game


def stored(s: Session, player_id: str, round_id: str) -> Guess:
    g = s.scalars(select(Guess).where(Guess.player_id == player_id, Guess.round_id == round_id)).one()
    s.refresh(g)  # read back from the database, not the identity map
    return g


def test_submit_guess_stores_points_version_and_closeness(sessions: sessionmaker[Session]) -> None:
    with sessions() as s:
        game = game_with_mean(s, [2.0, -1.0, 0.5], level=1)  # level 1: × 1.5
        cases = [  # (guess, hand-computed points): 100 · max(0, |0.5 − a| − |g − a|) / 2 · 1.5
            (1.5, 100 * (1.5 - 0.5) / 2 * 1.5),  # 75
            (0.5, 0.0),  # the mean itself
            (3.0, 0.0),  # worse than the mean; truth at the mean earns nothing anyway
        ]
        for rnd, (value, points) in zip(game.rounds, cases, strict=True):
            g, _ = repo.submit_guess(s, game.player_id, rnd.id, rnd.token, value, None)
            assert g.points == pytest.approx(points) and g.points_version == POINTS_VERSION
            back = stored(s, game.player_id, rnd.id)
            assert back.points == pytest.approx(points) and back.points_version == POINTS_VERSION
            assert back.score == pytest.approx(round_score(value, rnd.actual, SCALE))  # closeness unchanged
        assert repo.round_max_points(game.rounds[0]) == pytest.approx(100 * 1.5 / 2 * 1.5)


def test_record_guesses_stores_the_same_points(sessions: sessionmaker[Session]) -> None:
    with sessions() as s:
        game = game_with_mean(s, [2.0, 0.0], level=0)  # level 0: × 2
        bot = history.ensure_bot(s, "mean", "1")
        plays: list[tuple[str, float, float | None]] = [(game.rounds[0].id, 1.0, None), (game.rounds[1].id, 0.5, 0.1)]
        assert history.record_guesses(s, bot.id, plays) == 2
        s.commit()
        first, second = (stored(s, bot.id, r.id) for r in game.rounds)
        assert first.points == pytest.approx(100 * (1.5 - 1.0) / 2 * 2) and first.score == pytest.approx(50.0)
        assert second.points == 0.0 and second.score == pytest.approx(round_score(0.5, 0.0, SCALE))
        assert {first.points_version, second.points_version} == {POINTS_VERSION}


def test_a_payload_without_a_mean_stores_null_points(sessions: sessionmaker[Session]) -> None:
    with sessions() as s:
        game = game_with_mean(s, [1.0], level=0, mean=None)
        rnd = game.rounds[0]
        g, _ = repo.submit_guess(s, game.player_id, rnd.id, rnd.token, 0.0, None)
        assert g.points is None and g.points_version is None and g.score == pytest.approx(50.0)
        assert repo.round_max_points(rnd) is None


@pytest.mark.parametrize("backend", fx.BACKENDS)
def test_rows_before_0003_keep_their_score_and_get_null_points(
    backend: str, request: pytest.FixtureRequest, tmp_path: Any
) -> None:
    url = (
        f"sqlite:///{tmp_path / 'old.db'}"
        if backend == "sqlite"
        else fx.fresh_postgres_database(request.getfixturevalue("pg_server"))
    )
    engine: Engine = make_engine(url)
    try:
        migrate(engine)
        with session_factory(engine)() as s:
            game = game_with_mean(s, [2.0], level=0)
            rnd = game.rounds[0]
            repo.submit_guess(s, game.player_id, rnd.id, rnd.token, 1.0, None)
        cfg = alembic_config()
        with engine.begin() as conn:  # back to 0002 (no points columns) and forward again
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0002")
            command.upgrade(cfg, "head")
        with session_factory(engine)() as s:
            g = stored(s, game.player_id, rnd.id)
            assert g.points is None and g.points_version is None and g.score == pytest.approx(50.0)
    finally:
        engine.dispose()
