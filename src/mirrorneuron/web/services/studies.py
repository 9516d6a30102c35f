"""Studies on the web side: checking a config against the zoo, and one participant's games in a study."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sqlalchemy.orm import Session

from mirrorneuron.game import SamplingPlan, draw_examples, make_rounds
from mirrorneuron.gameplay import PreparedGame, prepare_game, seen_examples
from mirrorneuron.store import repo
from mirrorneuron.store.repo import StudyConfig
from mirrorneuron.types import UserError
from mirrorneuron.web.services.games import prepare_for_player
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
                    make_rounds(ctx, level, 1, plan=SamplingPlan.from_mix(config.sampling.model_dump(), config.seed))
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


def levels_for(config: StudyConfig, participant: int) -> list[tuple[str, int]]:
    """(unit, level) games of the ``participant``-th player to join. Between players: one level per unit,
    rotating over units and participants (a Latin square, so levels stay balanced); within: every level."""
    if config.design == "within":
        return [(u, lv) for u in config.units for lv in config.levels]
    n = len(config.levels)
    return [(u, config.levels[(participant + k) % n]) for k, u in enumerate(config.units)]


def prepare_study_games(
    cache: UnitCache, config: StudyConfig, participant: int, shown: dict[str, list[tuple[str, int, int]]]
) -> list[tuple[PreparedGame, bool]]:
    """(game, practice) for one participant: the practice game (a unit outside the study, with feedback), then
    their unit × level games. Every participant is drawn the same items (the study's seed) except windows they
    were shown before (``shown``: their earlier rounds per model). Within a player, levels get disjoint items."""
    plan = SamplingPlan.from_mix(config.sampling.model_dump(), config.seed)
    shown = {m: list(rows) for m, rows in shown.items()}  # grows with each game: later ones avoid earlier ones
    out: list[tuple[PreparedGame, bool]] = []

    def add(game: PreparedGame, practice: bool) -> None:
        rows = shown.setdefault(game.ctx.ref.model, [])
        rows.extend((game.ctx.unit_id, int(game.rounds.level), r.index) for r in game.rounds.rounds)
        out.append((game, practice))

    if config.practice_rounds:
        model = config.units[0].split("/")[0]
        unit = next(
            (u for k in range(MAX_PRACTICE_TRIES) if (u := cache.random_unit(model, config.seed + k)) not in config.units),
            cache.random_unit(model, config.seed),
        )
        ctx = cache.context(unit)
        add(prepare_for_player(cache, ctx, config.levels[0], config.practice_rounds, plan, shown.get(model, [])), True)
    games = levels_for(config, participant)
    for unit in config.units:
        ctx = cache.context(unit)
        levels = [lv for u, lv in games if u == unit]
        n = config.rounds_per_unit
        seen = seen_examples(ctx, shown.get(ctx.ref.model, []), max(levels))
        with cache.lock:
            items = draw_examples(ctx, n * len(levels), plan, exclude=seen)
        for k, level in enumerate(levels):
            block = replace(items, draws=items.draws[k * n : (k + 1) * n])
            add(prepare_game(ctx, level, n, plan, design=config.design, draws=block, lock=cache.lock), False)
    return out
