"""Per-process memo of immutable game facts (owner, level, feedback, size), so the hot paths skip a read."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy.orm import Session

from mirrorneuron.store import repo

K = TypeVar("K")
V = TypeVar("V")


class Lru(Generic[K, V]):
    def __init__(self, size: int) -> None:
        self.size = size
        self._d: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        value = self._d.get(key)
        if value is not None:
            self._d.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> V:
        self._d[key] = value
        self._d.move_to_end(key)
        while len(self._d) > self.size:
            self._d.popitem(last=False)
        return value


@dataclass(frozen=True)
class GameMeta:
    game_id: str
    player_id: str
    unit_id: str
    level: int
    feedback: bool
    practice: bool
    study_id: str | None
    seed: int
    n_rounds: int
    sampling: dict[str, Any] | None  # the study's sampling proportions (None: the default plan)


def load_meta(s: Session, game_id: str) -> GameMeta:
    game = repo.get_game(s, game_id)
    if game is None:
        raise repo.NotFound(f"no game {game_id!r}")
    sampling = None
    if game.study_id:
        study = repo.get_study(s, game.study_id)
        sampling = repo.study_config(study).sampling.model_dump() if study else None
    return GameMeta(
        game.id,
        game.player_id,
        game.unit_id,
        game.level,
        game.feedback,
        game.practice,
        game.study_id,
        game.seed,
        repo.count_rounds(s, game.id),  # not len(game.rounds): that loads every round and its payload
        sampling,
    )
