"""Every play is stored: terminal games (each guess before its reveal, also when Ctrl-C ends the session),
the bots that replay them, and `bots run` games; a later terminal game never asks what was shown before."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pexpect
import pytest
from sqlalchemy import select

from mirrorneuron.store.db import make_engine, session_factory
from mirrorneuron.store.models import Game, Guess, Player, Round

# The prompt itself, not "your guess" in the intro panel: sending while the game is still drawing lets the
# tty echo split a multi-byte block character (a UnicodeDecodeError in pexpect, seen once in CI).
GUESS = "q to quit"
UNIT = "layers.1.post/5"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("home")


def run(home: Path, *args: str) -> pexpect.spawn:
    env = {**os.environ, "MIRRORNEURON_HOME": str(home), "COLUMNS": "120", "TERM": "xterm"}
    env.pop("MIRRORNEURON_DATABASE_URL", None)
    return pexpect.spawn(sys.executable, ["-m", "mirrorneuron", *args], env=env, encoding="utf-8", timeout=120)


def games(home: Path) -> list[tuple[Game, list[Round], dict[str, list[Guess]]]]:
    engine = make_engine(f"sqlite:///{home / 'mirrorneuron.db'}")
    with session_factory(engine)() as s:
        out = []
        for g in s.scalars(select(Game).order_by(Game.created_at)):
            rounds = list(s.scalars(select(Round).where(Round.game_id == g.id).order_by(Round.seq)))
            by_player: dict[str, list[Guess]] = {}
            for guess in s.scalars(select(Guess).where(Guess.round_id.in_([r.id for r in rounds]))):
                by_player.setdefault(guess.player_id, []).append(guess)
            out.append((g, rounds, by_player))
    engine.dispose()
    return out


def test_terminal_games_and_their_bots_are_stored_and_never_repeat(home: Path) -> None:
    child = run(home, "play", "--terminal", "--model", "digits-mlp", "--unit", UNIT, "--level", "1", "--rounds", "3", "--seed", "5")
    for value in ("0.1", "0.2", "0.3"):
        child.expect(GUESS)
        child.sendline(value)
        child.expect("truth")
    child.expect("stored as game")
    child.expect(pexpect.EOF)
    # the same unit, seed and level again: the windows shown in the first game are not asked again
    child = run(home, "play", "--terminal", "--model", "digits-mlp", "--unit", UNIT, "--level", "1", "--rounds", "4", "--seed", "5")
    child.expect(GUESS)
    child.sendline("0.5")
    child.expect("truth")
    child.expect(GUESS)
    child.sendintr()  # Ctrl-C: the guess already made is kept
    child.expect("results kept")
    child.expect(pexpect.EOF)

    (first, r1, g1), (second, r2, g2) = games(home)
    assert first.client == second.client == "terminal" and first.design == "casual" and first.seed == 5
    human = first.player_id
    assert second.player_id == human  # one terminal player per home: one history
    seq = {r.id: r.seq for r in r1}
    assert [g.value for g in sorted(g1[human], key=lambda g: seq[g.round_id])] == [0.1, 0.2, 0.3]
    assert len(g2[human]) == 1 and g2[human][0].value == 0.5
    assert not {r.example_index for r in r1} & {r.example_index for r in r2}
    engine = make_engine(f"sqlite:///{home / 'mirrorneuron.db'}")
    with session_factory(engine)() as s:
        bots = {p.id: p for p in s.scalars(select(Player).where(Player.kind == "bot"))}
    engine.dispose()
    assert {p.bot_name for p in bots.values()} == {"mean", "unigram", "knn", "ridge"}
    assert all(p.bot_version for p in bots.values())
    assert all(len(g1[pid]) == 3 for pid in bots) and all(len(g2[pid]) == 1 for pid in bots)  # same rounds


def test_bots_run_stores_by_default_and_no_store_skips(home: Path) -> None:
    before = len(games(home))
    child = run(home, "bots", "run", "digits-mlp", UNIT, "--bot", "ridge", "--level", "2", "--rounds", "6")
    child.expect("stored 1 bot game")
    child.expect(pexpect.EOF)
    after = games(home)
    assert len(after) == before + 1
    game, rounds, guesses = after[-1]
    assert game.design == "bots" and game.client == "cli" and game.player_id == "bot-ridge-v1"
    assert len(rounds) == 6 and len(guesses["bot-ridge-v1"]) == 6
    child = run(home, "bots", "run", "digits-mlp", UNIT, "--bot", "mean", "--rounds", "4", "--no-store")
    child.expect(pexpect.EOF)
    assert len(games(home)) == before + 1
