"""Studies, read models and exports of the gameplay store, against SQLite and a real Postgres."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
import store_fixtures as fx
from sqlalchemy.orm import Session, sessionmaker

from mirrorneuron.store import repo
from mirrorneuron.store.errors import NotFound
from mirrorneuron.store.export import SCHEMA, guesses_table, write_export

# pytest fixtures shared with the other store tests (see store_fixtures.py)
pg_server, store_engine, sessions = fx.pg_server, fx.store_engine, fx.sessions

YAML = """
name: Neuron 17 pilot
units: [tiny-gelu/blocks.0.mlp.post/neuron/17, tiny-gelu/blocks.1.mlp.post/neuron/3]
levels: [0, 2]
rounds_per_unit: 20
feedback: no
practice_rounds: 3
sampling: {top: 0.1, bins: 0.6, random: 0.3}
"""


def play(s: Session, game: repo.Game, guesses: list[float]) -> None:
    """Answer the game's first ``len(guesses)`` rounds in order."""
    for value in guesses:
        rnd = repo.next_round(s, game.id)
        assert rnd is not None
        repo.submit_guess(s, game.player_id, rnd.id, rnd.token, value, 1.0)


def test_study_config_from_yaml_and_json() -> None:
    cfg = repo.StudyConfig.from_text(YAML)
    assert cfg.levels == [0, 2] and cfg.feedback is False and cfg.practice_rounds == 3
    assert cfg.sampling.bins == 0.6 and cfg.design == "between"
    assert 0 <= cfg.seed < 2**31 and repo.StudyConfig.from_text(YAML).seed != cfg.seed  # a random seed, recorded
    again = repo.StudyConfig.from_text(json.dumps(cfg.model_dump(mode="json")))
    assert again == cfg
    minimal = repo.StudyConfig.from_text(
        '{"name": "x", "units": ["u/s/neuron/1"], "levels": [3], "rounds_per_unit": 1}'
    )
    assert minimal.feedback is True and (minimal.sampling.top, minimal.sampling.random) == (0.2, 0.3)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name: x\nunits: [u]\nlevels: [4]\nrounds_per_unit: 5", "field 'levels'"),
        ("name: x\nunits: []\nlevels: [1]\nrounds_per_unit: 5", "field 'units'"),
        ("name: x\nunits: [u]\nlevels: [1]\nrounds_per_unit: 501", "field 'rounds_per_unit'"),
        ("name: x\nunits: [u]\nlevels: [1]\nrounds_per_unit: '5'", "field 'rounds_per_unit'"),
        ("name: x\nunits: [u]\nlevels: [1]\nrounds_per_unit: 5\npractice_rounds: 21", "field 'practice_rounds'"),
        ("name: x\nunits: [u]\nlevels: [1]\nrounds_per_unit: 5\ncolour: red", "field 'colour': unknown field"),
        ("name: x\nunits: [u]\nlevels: [1]\nrounds_per_unit: 5\nsampling: {top: 0.5, bins: 0.6}", "sum to 1"),
        ("name: x\nunits: [u]\nlevels: [1]\nrounds_per_unit: 5\nfeedback: maybe", "field 'feedback'"),
        ('{"units": ["u"], "levels": [1], "rounds_per_unit": 5}', "field 'name': Field required"),
        ("- just\n- a list", "must be a mapping"),
        ("name: [unclosed", "neither valid JSON nor valid YAML: line 1"),
    ],
    ids=[
        "level",
        "units",
        "rounds",
        "rounds-str",
        "practice",
        "extra",
        "sampling",
        "feedback",
        "name",
        "list",
        "syntax",
    ],
)
def test_study_config_errors_name_the_field(text: str, expected: str) -> None:
    with pytest.raises(ValueError, match=r"^(invalid study config|study config)") as err:
        repo.StudyConfig.from_text(text)
    assert expected in str(err.value)


def test_study_create_progress_and_export(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    with sessions() as s:
        unit_a, unit_b = fx.seed_unit(s, n_examples=2), fx.seed_unit(s, n_examples=2)
        owner = repo.ensure_player(s, None)
        cfg = repo.StudyConfig(name="pilot", units=[unit_a[0], unit_b[0]], levels=[0, 1], rounds_per_unit=2)
        with pytest.raises(ValueError, match="unknown unit"):
            repo.create_study(s, cfg.model_copy(update={"units": ["nope/x/neuron/1"]}), owner.id, check_units=True)
        study = repo.create_study(s, cfg, owner.id, check_units=True)
        s.commit()
        assert repo.get_study(s, study.id) is study and repo.study_config(study) == cfg
        assert len(study.id) >= 6 and study.id.replace("-", "").replace("_", "").isalnum()

        p1 = repo.ensure_player(s, None)
        p2 = repo.ensure_player(s, None, kind="bot")
        s.commit()
        g1 = fx.new_game(s, [0.0, 1.0], player_id=p1.id, unit=unit_a, study_id=study.id)
        play(s, g1, [0.0, 0.0])  # scores 100, 50
        practice = fx.new_game(s, [2.0], player_id=p1.id, unit=unit_a, study_id=study.id, practice=True)
        play(s, practice, [2.0])
        g2 = fx.new_game(s, [0.0, 1.0], player_id=p2.id, unit=unit_a, study_id=study.id, level=1)
        play(s, g2, [1.0])  # score 50, one round left

        progress = repo.study_progress(s, study.id)
        assert progress["players"] == 2 and progress["games_started"] == 2 and progress["games_finished"] == 1
        assert progress["practice_games"] == 1 and progress["guesses"] == 3
        cells = {(c["unit_id"], c["level"]): c for c in progress["cells"]}
        assert len(cells) == 4
        assert cells[(unit_a[0], 0)] == {
            "unit_id": unit_a[0],
            "level": 0,
            "guesses": 2,
            "players": 1,
            "mean_score": pytest.approx(75.0),
        }
        assert cells[(unit_a[0], 1)]["guesses"] == 1 and cells[(unit_b[0], 0)]["mean_score"] is None
        with pytest.raises(NotFound):
            repo.study_progress(s, "no-such-study")

        table = guesses_table(s, study.id)
        assert table.schema == SCHEMA and table.num_rows == 4
        rows = table.to_pylist()
        assert [r["practice"] for r in rows].count(True) == 1
        assert {r["player_kind"] for r in rows} == {"human", "bot"}
        first = rows[0]
        assert (first["unit_id"], first["level"], first["actual"], first["guess"]) == (unit_a[0], 0, 0.0, 0.0)
        assert first["study_id"] == study.id and first["feedback"] is True and first["score"] == 100.0
        assert guesses_table(s).num_rows >= 4
        assert guesses_table(s, "no-such-study").num_rows == 0

    parquet = write_export(table, tmp_path / "out" / "g.parquet", "parquet")
    assert pq.read_table(parquet).equals(table)
    csv = write_export(table, tmp_path / "g.csv", "csv")
    back = pacsv.read_csv(csv)
    assert back.num_rows == 4 and back.column("guess_id").to_pylist() == table.column("guess_id").to_pylist()
    assert back.column("score").to_pylist() == table.column("score").to_pylist()
    assert not list(tmp_path.glob("**/.*.tmp"))
    with pytest.raises(ValueError, match="parquet"):
        write_export(table, tmp_path / "g.xlsx", "xlsx")  # type: ignore[arg-type]


def test_leaderboard_history_and_unit_stats(sessions: sessionmaker[Session]) -> None:
    with sessions() as s:
        unit = fx.seed_unit(s, n_examples=4)
        ada = repo.set_display_name(s, repo.ensure_player(s, None).id, "Ada")
        bob = repo.ensure_player(s, None)
        cyd = repo.ensure_player(s, None)
        s.commit()
        ada_game = fx.new_game(s, [0.0, 1.0, 2.0], player_id=ada.id, unit=unit, level=1)
        play(s, ada_game, [0.0, 1.0, 3.0])  # 100, 100, 50
        bob_game = fx.new_game(s, [0.0, 1.0, 2.0, 0.0], player_id=bob.id, unit=unit, level=1)
        play(s, bob_game, [1.0, 1.0, 1.0, 1.0])  # 50, 100, 50, 50; constant guesses → correlation 0
        play(s, fx.new_game(s, [0.0, 2.0], player_id=cyd.id, unit=unit, level=1), [2.0, 2.0])  # 0, 100
        practice = fx.new_game(s, [5.0, 5.0, 5.0], player_id=ada.id, unit=unit, level=1, practice=True)
        play(s, practice, [5.0, 5.0])  # left out of boards and unit stats
        play(s, fx.new_game(s, [0.0] * 3, player_id=bob.id, unit=unit, level=0), [0.0] * 3)

        board = repo.leaderboard(s, unit[0], 1)
        assert [r["name"] for r in board] == ["Ada", f"player-{bob.id[:6]}"]  # Cyd has < 3 guesses
        assert board[0]["rank"] == 1 and board[0]["rounds"] == 3 and board[0]["kind"] == "human"
        assert board[0]["mean_score"] == pytest.approx(250 / 3)
        assert board[0]["correlation"] == pytest.approx(3 / math.sqrt(28 / 3))  # pearson([0,1,2],[0,1,3])
        assert board[1]["mean_score"] == pytest.approx(62.5) and board[1]["correlation"] == 0.0
        assert repo.leaderboard(s, unit[0], 1, limit=1) == board[:1]
        assert repo.leaderboard(s, unit[0], 3) == []

        stats = repo.unit_play_stats(s, unit[0])
        assert stats["unit_id"] == unit[0]
        assert [lv["level"] for lv in stats["levels"]] == [0, 1]
        lv1 = stats["levels"][1]
        assert (lv1["players"], lv1["guesses"], lv1["humans"], lv1["bots"]) == (3, 9, 3, 0)
        assert lv1["mean_score"] == pytest.approx(600 / 9)
        assert stats["levels"][0]["mean_score"] == pytest.approx(100.0)

        history = repo.player_history(s, ada.id)
        assert [h["game_id"] for h in history] == [practice.id, ada_game.id]  # newest first
        assert (history[0]["rounds"], history[0]["answered"], history[0]["practice"]) == (3, 2, True)
        assert history[1]["mean_score"] == pytest.approx(250 / 3) and history[1]["level"] == 1
        assert history[1]["created_at"].tzinfo is not None
        assert repo.player_history(s, "nobody") == []


def test_feedback_off_games_stay_out_of_boards_and_unit_stats(sessions: sessionmaker[Session]) -> None:
    with sessions() as s:
        unit = fx.seed_unit(s, n_examples=3)
        ada = repo.ensure_player(s, None)
        blind = repo.ensure_player(s, None)
        s.commit()
        play(s, fx.new_game(s, [0.0, 1.0, 2.0], player_id=ada.id, unit=unit, level=1), [0.0, 1.0, 2.0])
        # a blind study's game (feedback off): played the same way, but nobody saw a score
        rows = fx.round_dicts(unit[1], [0.0, 1.0, 2.0])
        off = repo.create_game(s, blind.id, unit[0], 1, feedback=False, seed=0, rounds=rows)
        s.commit()
        play(s, off, [2.0, 2.0, 2.0])
        play(s, repo.create_game(s, ada.id, unit[0], 1, False, 0, fx.round_dicts(unit[1], [5.0] * 3)), [0.0] * 3)

        board = repo.leaderboard(s, unit[0], 1)
        assert [r["player_id"] for r in board] == [ada.id]
        assert board[0]["rounds"] == 3 and board[0]["mean_score"] == pytest.approx(100.0)
        (lv1,) = repo.unit_play_stats(s, unit[0])["levels"]
        assert (lv1["level"], lv1["players"], lv1["guesses"], lv1["humans"]) == (1, 1, 3, 1)
        assert lv1["mean_score"] == pytest.approx(100.0)
        history = repo.player_history(s, blind.id)  # a player's own history keeps the game
        assert [(h["game_id"], h["feedback"], h["answered"]) for h in history] == [(off.id, False, 3)]
