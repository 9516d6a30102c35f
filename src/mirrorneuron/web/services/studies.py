"""Studies on the web side: checking a config against the zoo, and one participant's games in a study."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from mirrorneuron.game import make_rounds
from mirrorneuron.store import repo
from mirrorneuron.store.repo import StudyConfig
from mirrorneuron.types import UserError
from mirrorneuron.web.services.games import PreparedGame, plan_for, prepare_game
from mirrorneuron.web.unitcache import UnitCache

MAX_PRACTICE_TRIES = 20


def check_config(cache: UnitCache, config: StudyConfig) -> None:
    """Every unit must open (trained model, harvested site, known key) and give a round at every level."""
    for unit in config.units:
        try:
            ctx = cache.context(unit)
            if unit != ctx.unit_id:
                raise UserError(f"write it in full as {ctx.unit_id!r}")
            for level in config.levels:
                with cache.lock:
                    make_rounds(ctx, level, 1, plan=plan_for(config.sampling.model_dump(), config.seed))
        except (UserError, ValueError) as e:
            raise ValueError(f"unit {unit!r}: {e}") from None


def _order(config: StudyConfig) -> dict[tuple[str, int], int]:
    return {(u, lv): i for i, (u, lv) in enumerate((u, lv) for u in config.units for lv in config.levels)}


def study_games(s: Session, player_id: str, study_id: str) -> list[dict[str, Any]]:
    """The player's games in the study in playing order: practice first, then units × levels as configured."""
    study = repo.get_study(s, study_id)
    if study is None:
        raise repo.NotFound(f"no study {study_id!r}")
    order = _order(repo.study_config(study))
    games = [g for g in repo.player_history(s, player_id) if g["study_id"] == study_id]
    return sorted(games, key=lambda g: (not g["practice"], order.get((g["unit_id"], g["level"]), 10**9)))


def next_study_game(s: Session, player_id: str, study_id: str) -> str | None:
    for g in study_games(s, player_id, study_id):
        if g["answered"] < g["rounds"]:
            return str(g["game_id"])
    return None


def prepare_study_games(cache: UnitCache, config: StudyConfig) -> list[tuple[PreparedGame, bool]]:
    """(game, practice) for one participant: the practice game (a unit outside the study, with feedback), then
    every unit × level. Every participant gets the same rounds (the study's seed)."""
    sampling = config.sampling.model_dump()
    plan = plan_for(sampling, config.seed)
    out: list[tuple[PreparedGame, bool]] = []
    if config.practice_rounds:
        model = config.units[0].split("/")[0]
        unit = next(
            (u for k in range(MAX_PRACTICE_TRIES) if (u := cache.random_unit(model, config.seed + k)) not in config.units),
            cache.random_unit(model, config.seed),
        )
        out.append((prepare_game(cache, cache.context(unit), config.levels[0], config.practice_rounds, plan), True))
    for unit in config.units:
        ctx = cache.context(unit)
        out.extend((prepare_game(cache, ctx, level, config.rounds_per_unit, plan), False) for level in config.levels)
    return out
