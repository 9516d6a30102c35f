"""The store's repository: every function takes a ``Session`` first; callers commit, except
:func:`submit_guess`, which commits before it returns (an acknowledged guess is never lost).

This module is the one import point for callers (web, cli); the code lives in small modules:
``catalog`` (players, models, units, examples), ``play`` (games, rounds, guesses), ``studies`` and ``stats``.
"""

from __future__ import annotations

from mirrorneuron.store.catalog import (
    clean_display_name,
    ensure_examples,
    ensure_model,
    ensure_player,
    ensure_unit,
    get_player,
    set_display_name,
)
from mirrorneuron.store.errors import AlreadyGuessed, Forbidden, NotFound, StoreError
from mirrorneuron.store.models import Example, Game, Guess, Imitation, Model, Player, Round, Study, Unit
from mirrorneuron.store.play import (
    count_rounds,
    create_game,
    game_results,
    get_game,
    get_round,
    next_round,
    round_max_points,
    submit_guess,
)
from mirrorneuron.store.stats import leaderboard, player_history, player_label, unit_play_stats
from mirrorneuron.store.studies import (
    SamplingConfig,
    StudyConfig,
    create_study,
    get_study,
    study_config,
    study_progress,
    unknown_units,
)

__all__ = [
    "AlreadyGuessed",
    "Example",
    "Forbidden",
    "Game",
    "Guess",
    "Imitation",
    "Model",
    "NotFound",
    "Player",
    "Round",
    "SamplingConfig",
    "StoreError",
    "Study",
    "StudyConfig",
    "Unit",
    "clean_display_name",
    "count_rounds",
    "create_game",
    "create_study",
    "ensure_examples",
    "ensure_model",
    "ensure_player",
    "ensure_unit",
    "game_results",
    "get_game",
    "get_player",
    "get_round",
    "get_study",
    "leaderboard",
    "next_round",
    "player_history",
    "player_label",
    "round_max_points",
    "set_display_name",
    "study_config",
    "study_progress",
    "submit_guess",
    "unit_play_stats",
    "unknown_units",
]
