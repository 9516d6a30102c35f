"""Gameplay as research data: building a player's rounds so nothing they saw is asked again, and storing
every play — web, terminal or bot — in the gameplay store.

Above ``game`` (rounds), ``units`` (contexts), ``players`` (bots) and ``store``; used by ``web`` and ``cli``.
"""

from mirrorneuron.gameplay.bots import bot_version, play_bots, store_bot_game, store_bot_plays
from mirrorneuron.gameplay.games import (
    DESIGNS,
    PreparedGame,
    prepare_game,
    round_rows,
    seen_examples,
    store_game,
)

__all__ = [
    "DESIGNS",
    "PreparedGame",
    "bot_version",
    "play_bots",
    "prepare_game",
    "round_rows",
    "seen_examples",
    "store_bot_game",
    "store_bot_plays",
    "store_game",
]
