"""Bots play like humans and their plays are stored like humans': one player row per bot and version.

A bot is fitted only on the unit's training examples (never asked) and learns online from reveals.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from mirrorneuron.game import Round, RoundSet, run_session, truth_from
from mirrorneuron.game.session import Player, SessionResult
from mirrorneuron.gameplay.games import PreparedGame, round_rows, store_game
from mirrorneuron.players import make_bot
from mirrorneuron.players.data import BotData
from mirrorneuron.store import history, repo
from mirrorneuron.units import HarvestedUnit


def bot_version(bot: Player) -> str:
    return str(getattr(bot, "version", "1"))


def play_bots(
    ctx: HarvestedUnit, rs: RoundSet, names: Sequence[str], rounds: Sequence[Round] | None = None
) -> dict[str, tuple[Player, SessionResult]]:
    """Each bot (fresh, held out: fitted on ``rs.training`` only) plays ``rounds`` (default: all of ``rs``)."""
    data = BotData.from_context(ctx, rs.training)
    played = list(rs.rounds if rounds is None else rounds)
    out = {}
    for name in names:
        bot = make_bot(name, data)
        out[name] = (bot, run_session(bot, played, truth_from(ctx)))
    return out


def store_bot_plays(s: Session, round_ids: dict[int, str], results: dict[str, tuple[Player, SessionResult]]) -> int:
    """Store each bot's guesses on stored rounds (``round_ids``: seq → round id), e.g. the rounds of a
    human's game that the bots replayed for its summary. Already stored plays are kept. Commits."""
    stored = 0
    for name, (bot, res) in results.items():
        pid = history.ensure_bot(s, name, bot_version(bot)).id
        plays = [(round_ids[r.round.seq], r.guess, r.seconds) for r in res.results if r.round.seq in round_ids]
        stored += history.record_guesses(s, pid, plays)
    s.commit()
    return stored


def store_bot_game(
    s: Session, ctx: HarvestedUnit, rs: RoundSet, bot: Player, result: SessionResult, client: str = "cli"
) -> str:
    """A bot's own game (e.g. from ``mirrorneuron bots run``): the rounds and its guesses. Commits."""
    pid = history.ensure_bot(s, bot.name, bot_version(bot)).id
    game_id = store_game(s, pid, PreparedGame(ctx, rs, round_rows(ctx, rs), "bots"), True, client=client)
    ids = {r.seq: r.id for r, _ in repo.game_results(s, game_id)}
    history.record_guesses(s, pid, [(ids[r.round.seq], r.guess, r.seconds) for r in result.results])
    s.commit()
    return game_id
