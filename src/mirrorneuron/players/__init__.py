"""Players: the :class:`Player` protocol (from the game core) and the bots that play through it.

Every bot is deterministic and plays through :func:`mirrorneuron.game.run_session` like a human does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mirrorneuron.game import Player
from mirrorneuron.players.data import BotData, unit_mean
from mirrorneuron.players.knn import KnnBot
from mirrorneuron.players.llm import LlmBot, LlmError, LlmNotConfigured, parse_number
from mirrorneuron.players.prompt import render_example, render_hints, render_prompt, render_round
from mirrorneuron.players.ridge import RidgeBot
from mirrorneuron.players.simple import MeanBot, UnigramBot
from mirrorneuron.types import UserError


def _local_llm(data: BotData, **options: Any) -> Player:
    from mirrorneuron.players.local_llm import LocalLlmBot  # imports torch/transformers only when chosen

    return LocalLlmBot(data, **options)


_FACTORIES: dict[str, Callable[..., Player]] = {
    "mean": MeanBot,
    "unigram": UnigramBot,
    "knn": KnnBot,
    "ridge": RidgeBot,
    "llm": LlmBot.from_env,
    "llm-local": _local_llm,
}
BOT_NAMES: tuple[str, ...] = tuple(_FACTORIES)
OFFLINE_BOT_NAMES: tuple[str, ...] = ("mean", "unigram", "knn", "ridge")  # need no server


def make_bot(name: str, data: BotData, **options: Any) -> Player:
    """The bot called ``name`` (one of :data:`BOT_NAMES`) for a unit with harvest ``data``; ``options`` go
    to its constructor (e.g. ``k=5`` for knn, ``alpha=1.0`` for ridge, ``base_url=...`` for llm)."""
    factory = _FACTORIES.get(name.strip().lower())
    if factory is None:
        raise UserError(f"unknown bot {name!r}; choose one of {', '.join(BOT_NAMES)}")
    return factory(data, **options)


__all__ = [
    "BOT_NAMES",
    "OFFLINE_BOT_NAMES",
    "BotData",
    "KnnBot",
    "LlmBot",
    "LlmError",
    "LlmNotConfigured",
    "MeanBot",
    "Player",
    "RidgeBot",
    "UnigramBot",
    "make_bot",
    "parse_number",
    "render_example",
    "render_hints",
    "render_prompt",
    "render_round",
    "unit_mean",
]
