"""The gameplay store against SQLite and a real Postgres: migrations, the game flow, and guess security."""

from __future__ import annotations

import math
import threading
from pathlib import Path

import pytest
import store_fixtures as fx
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from mirrorneuron.game.scoring import round_score, summarize
from mirrorneuron.store import repo
from mirrorneuron.store.db import alembic_config, current_revision, database_url, make_engine, migrate
from mirrorneuron.store.errors import AlreadyGuessed, Forbidden, NotFound
from mirrorneuron.store.models import Base, Guess

# pytest fixtures shared with the other store tests (see store_fixtures.py)
pg_server, store_engine, sessions = fx.pg_server, fx.store_engine, fx.sessions
new_game, seed_unit = fx.new_game, fx.seed_unit


def test_migrate_twice_is_a_noop_and_matches_the_models(store_engine: Engine) -> None:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert current_revision(store_engine) == head
    migrate(store_engine)
    assert current_revision(store_engine) == head
    with store_engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert diff == []


def test_sqlite_pragmas_are_active_and_foreign_keys_enforced(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'sub' / 'x.db'}")
    migrate(engine)
    with engine.connect() as conn:
        pragma = {
            p: conn.exec_driver_sql(f"PRAGMA {p}").scalar()
            for p in ("journal_mode", "busy_timeout", "foreign_keys", "synchronous")
        }
    assert pragma == {"journal_mode": "wal", "busy_timeout": 10000, "foreign_keys": 1, "synchronous": 1}
    with Session(engine) as s:
        s.add(repo.Game(id="g", player_id="nobody", unit_id="none", level=0, feedback=True, seed=0, practice=False))
        with pytest.raises(IntegrityError):
            s.flush()
    engine.dispose()


def test_database_url_default_and_env(isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MIRRORNEURON_DATABASE_URL", raising=False)
    assert database_url() == f"sqlite:///{isolated_home / 'mirrorneuron.db'}"
    assert isolated_home.is_dir()
    monkeypatch.setenv("MIRRORNEURON_DATABASE_URL", "postgresql://u:p@localhost:5/db")
    assert database_url() == "postgresql://u:p@localhost:5/db"
    engine = make_engine()  # no connection is made; the URL gets the psycopg 3 driver
    assert engine.url.drivername == "postgresql+psycopg"
    engine.dispose()


def test_catalog_is_idempotent_and_players_are_validated(sessions: sessionmaker[Session]) -> None:
    with sessions() as s:
        unit_id, examples = seed_unit(s)
        model = unit_id.split("/")[0]
        repo.ensure_model(s, model, "text", "abc123")
        repo.ensure_unit(s, unit_id, model, "blocks.0.mlp.post", "neuron", 3, {"scale": 5.0})
        repo.ensure_examples(s, model, [{"id": e, "harvest_index": 99, "payload": {}} for e in examples * 2])
        s.commit()
        assert s.get(repo.Unit, unit_id).stats == {"scale": 5.0}  # type: ignore[union-attr]
        assert s.get(repo.Example, examples[0]).harvest_index == 0  # type: ignore[union-attr]
        p = repo.ensure_player(s, None)
        assert repo.ensure_player(s, p.id) is p
        other = repo.ensure_player(s, "chosen-by-client", kind="bot")
        assert other.id != "chosen-by-client" and other.kind == "bot"
        assert repo.set_display_name(s, p.id, "  Ada  ").display_name == "Ada"
        for bad in ["", "   ", "x" * 41, "tab\there"]:
            with pytest.raises(ValueError):
                repo.set_display_name(s, p.id, bad)
        with pytest.raises(ValueError):
            repo.ensure_player(s, None, kind="robot")
        s.commit()


def test_full_game_flow(sessions: sessionmaker[Session]) -> None:
    with sessions() as s:
        game = new_game(s, [0.5, -1.0, 2.0])
        first = repo.next_round(s, game.id)
        assert first is not None and first.seq == 0
        assert "actual" not in first.payload and "token" not in first.payload
        guess, rnd = repo.submit_guess(s, game.player_id, first.id, first.token, 1.5, 3.2)
        assert rnd.id == first.id and guess.id is not None
        assert guess.score == pytest.approx(50.0) == round_score(1.5, 0.5, 2.0)  # 100·(1 − 1/2)
        assert guess.seconds == pytest.approx(3.2) and guess.created_at.tzinfo is not None
        second = repo.next_round(s, game.id)
        assert second is not None and second.seq == 1
        repo.submit_guess(s, game.player_id, second.id, second.token, 5.0, None)  # far off → 0
        results = repo.game_results(s, game.id)
        assert [r.seq for r, _ in results] == [0, 1, 2]
        assert [None if g is None else g.score for _, g in results] == [pytest.approx(50.0), 0.0, None]
        third = repo.next_round(s, game.id)
        assert third is not None and third.seq == 2
        repo.submit_guess(s, game.player_id, third.id, third.token, 2.0, 1.0)
        assert repo.next_round(s, game.id) is None
        loaded = repo.get_game(s, game.id)
        assert loaded is not None and [r.seq for r in loaded.rounds] == [0, 1, 2]
        assert repo.get_game(s, "missing") is None


def test_second_guess_is_rejected(sessions: sessionmaker[Session]) -> None:
    with sessions() as s:
        game = new_game(s, [1.0])
        rnd = game.rounds[0]
        repo.submit_guess(s, game.player_id, rnd.id, rnd.token, 1.0, None)
        with pytest.raises(AlreadyGuessed):
            repo.submit_guess(s, game.player_id, rnd.id, rnd.token, 0.0, None)
        # the session is still usable after the rolled-back insert
        assert s.scalar(select(func.count()).select_from(Guess).where(Guess.round_id == rnd.id)) == 1


def test_concurrent_double_submit_stores_exactly_one(sessions: sessionmaker[Session]) -> None:
    with sessions() as s:
        game = new_game(s, [0.0] * 4)
        rounds = [(r.id, r.token) for r in game.rounds]
    for round_id, token in rounds:
        barrier = threading.Barrier(2)
        outcomes: list[str] = []

        def submit(
            value: float,
            round_id: str = round_id,
            token: str = token,
            barrier: threading.Barrier = barrier,
            outcomes: list[str] = outcomes,
        ) -> None:
            with sessions() as s2:
                barrier.wait()
                try:
                    repo.submit_guess(s2, game.player_id, round_id, token, value, None)
                    outcomes.append("ok")
                except AlreadyGuessed:
                    outcomes.append("409")
                except Exception as exc:  # surfaced by the assertion below
                    outcomes.append(repr(exc))

        threads = [threading.Thread(target=submit, args=(v,)) for v in (0.1, 0.2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert sorted(outcomes) == ["409", "ok"]
        with sessions() as s3:
            assert s3.scalar(select(func.count()).select_from(Guess).where(Guess.round_id == round_id)) == 1


def test_tokens_and_ownership_are_enforced(sessions: sessionmaker[Session]) -> None:
    with sessions() as s:
        game = new_game(s, [1.0, 2.0])
        rnd = game.rounds[0]
        for token in (None, "", "wrong", game.rounds[1].token):
            with pytest.raises(Forbidden):
                repo.submit_guess(s, game.player_id, rnd.id, token, 1.0, None)
        intruder = repo.ensure_player(s, None)
        s.commit()
        with pytest.raises(Forbidden):  # even with the right token
            repo.submit_guess(s, intruder.id, rnd.id, rnd.token, 1.0, None)
        with pytest.raises(NotFound):
            repo.submit_guess(s, game.player_id, "no-such-round", rnd.token, 1.0, None)
        for value in (math.nan, math.inf, -math.inf):
            with pytest.raises(ValueError):
                repo.submit_guess(s, game.player_id, rnd.id, rnd.token, value, None)
        with pytest.raises(ValueError):
            repo.submit_guess(s, game.player_id, rnd.id, rnd.token, 1.0, -2.0)
        assert s.scalar(select(func.count()).select_from(Guess).where(Guess.round_id == rnd.id)) == 0
        assert NotFound.status_code == 404 and Forbidden.status_code == 403 and AlreadyGuessed.status_code == 409


def test_acknowledged_guess_survives_without_caller_commit(
    sessions: sessionmaker[Session], store_engine: Engine
) -> None:
    with sessions() as s:
        game = new_game(s, [1.0])
        rnd = game.rounds[0]
        guess, _ = repo.submit_guess(s, game.player_id, rnd.id, rnd.token, 0.25, 1.0)
        s.rollback()  # whatever the caller does next, the acknowledged guess stays
    other = make_engine(store_engine.url.render_as_string(hide_password=False))  # a separate pool
    try:
        with Session(other) as fresh:
            stored = fresh.get(Guess, guess.id)
            assert stored is not None and stored.value == 0.25 and stored.round_id == rnd.id
            assert stored.score == pytest.approx(62.5)
    finally:
        other.dispose()


def test_create_game_rejects_leaky_or_bad_rounds(sessions: sessionmaker[Session]) -> None:
    with sessions() as s:
        player = repo.ensure_player(s, None)
        unit_id, examples = seed_unit(s, n_examples=1)
        base = {
            "seq": 0,
            "example_id": examples[0],
            "example_index": 0,
            "source": "top",
            "weight": 1.0,
            "scale": 1.0,
            "payload": {},
            "actual": 0.0,
        }
        bad_rounds = [
            [],
            [{**base, "payload": {"actual": 0.0}}],
            [{**base, "scale": 0.0}],
            [{**base, "actual": math.nan}],
            [base, base],
            [{k: v for k, v in base.items() if k != "seq"}],
        ]
        for rounds in bad_rounds:
            with pytest.raises((ValueError, KeyError)):
                repo.create_game(s, player.id, unit_id, 0, True, 0, rounds)
            s.rollback()


def test_store_scores_through_game_scoring(sessions: sessionmaker[Session]) -> None:
    """The stored round score is game.scoring.round_score, and the leaderboard correlation is summarize's: a
    guess constant up to float rounding (the old store Pearson, with its own 1e-12 tolerance, called it 1.0)
    and a unit with tiny activations (which the old one called 0.0) both match summarize."""
    actuals = [0.0, 1.0, 2.0]
    near_constant = [1e4, 1e4 + 1e-9, 1e4 + 2e-9]
    tiny = ([0.0, 1e-7, 2e-7], [0.0, 1e-7, 3e-7])
    with sessions() as s:
        game = new_game(s, actuals)
        for rnd, value in zip(sorted(game.rounds, key=lambda r: r.seq), [0.25, 1.0, -7.0], strict=True):
            guess, _ = repo.submit_guess(s, game.player_id, rnd.id, rnd.token, value, None)
            assert guess.score == round_score(value, rnd.actual, rnd.scale)
        for truth, guesses in ((actuals, near_constant), tiny):
            g = new_game(s, truth)
            for rnd, value in zip(sorted(g.rounds, key=lambda r: r.seq), guesses, strict=True):
                repo.submit_guess(s, g.player_id, rnd.id, rnd.token, value, None)
            [row] = repo.leaderboard(s, g.unit_id, 0)
            expected = summarize(truth, guesses)
            assert row["correlation"] == pytest.approx(expected.correlation, abs=1e-12)
            assert row["mean_score"] == pytest.approx(summarize(truth, guesses, scale=2.0).mean_round_score)
    assert summarize(actuals, near_constant).correlation == 0.0
    assert summarize(*tiny).correlation > 0.98
