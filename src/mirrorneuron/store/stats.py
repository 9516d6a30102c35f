"""Read models for pages: leaderboards, a player's history, how players do on a unit.

Practice games (warm-ups) and feedback-off games (played without seeing any score, as in blind studies) are
left out of leaderboards and unit stats; a player's history keeps every game.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from mirrorneuron.game.scoring import POINTS_VERSION, summarize
from mirrorneuron.store.models import Game, Guess, Player, Round

MIN_LEADERBOARD_GUESSES = 3
RANKED_GAME = Game.practice.is_(False) & Game.feedback.is_(True)  # the games boards and unit stats count


def player_label(player_id: str, display_name: str | None) -> str:
    """The display name, else a short form of the id."""
    return display_name or f"player-{player_id[:6]}"


def leaderboard(s: Session, unit_id: str, level: int, limit: int = 20) -> list[dict[str, Any]]:
    """Human players ranked by mean round score on ``unit_id`` at ``level`` (≥ 3 guesses to be listed), with
    the correlation of their guesses with the truth; practice and feedback-off games do not count (bots are
    compared in each game's summary and in analysis, not ranked against people). Keys: rank,
    player_id, name, kind, rounds, mean_score, correlation, points_per_round (insight points of the current
    formula per round; None when no round has them)."""
    current = case((Guess.points_version == POINTS_VERSION, Guess.points), else_=None)
    stmt = (
        select(Guess.player_id, Player.display_name, Player.kind, Round.actual, Guess.value, Guess.score, current)
        .join(Round, Round.id == Guess.round_id)
        .join(Game, Game.id == Round.game_id)
        .join(Player, Player.id == Guess.player_id)
        .where(Round.unit_id == unit_id, Round.level == int(level), RANKED_GAME, Player.kind == "human")
    )
    by_player: dict[str, list[tuple[float, float, float, float]]] = defaultdict(list)
    info: dict[str, tuple[str | None, str]] = {}
    for pid, name, kind, actual, value, score, points in s.execute(stmt):
        by_player[pid].append((actual, value, score, np.nan if points is None else points))
        info[pid] = (name, kind)
    rows: list[dict[str, Any]] = []
    for pid, triples in by_player.items():
        if len(triples) < MIN_LEADERBOARD_GUESSES:
            continue
        arr = np.asarray(triples, dtype=np.float64)
        name, kind = info[pid]
        rows.append(
            {
                "player_id": pid,
                "name": player_label(pid, name),
                "kind": kind,
                "rounds": len(triples),
                "mean_score": float(arr[:, 2].mean()),
                "correlation": summarize(arr[:, 0], arr[:, 1]).correlation,
                "points_per_round": float(np.nanmean(arr[:, 3])) if np.isfinite(arr[:, 3]).any() else None,
            }
        )
    rows.sort(key=lambda r: (-r["mean_score"], -r["correlation"], -r["rounds"], r["name"]))
    return [{"rank": i + 1, **r} for i, r in enumerate(rows[: max(0, int(limit))])]


def player_history(s: Session, player_id: str) -> list[dict[str, Any]]:
    """The player's games, newest first. Keys: game_id, unit_id, level, feedback, practice, study_id,
    rounds, answered, mean_score (None before the first guess), created_at (aware UTC datetime)."""
    stmt = (
        select(
            Game,
            func.count(Round.id),
            func.count(Guess.id),
            func.avg(Guess.score),
        )
        .join(Round, Round.game_id == Game.id)
        .outerjoin(Guess, (Guess.round_id == Round.id) & (Guess.player_id == Game.player_id))
        .where(Game.player_id == player_id)
        .group_by(Game.id)
        .order_by(Game.created_at.desc(), Game.id)
    )
    return [
        {
            "game_id": g.id,
            "unit_id": g.unit_id,
            "level": g.level,
            "feedback": g.feedback,
            "practice": g.practice,
            "study_id": g.study_id,
            "rounds": int(n_rounds),
            "answered": int(n_guesses),
            "mean_score": None if mean is None else float(mean),
            "created_at": g.created_at,
        }
        for g, n_rounds, n_guesses, mean in s.execute(stmt)
    ]


def unit_play_stats(s: Session, unit_id: str) -> dict[str, Any]:
    """How people and bots do on a unit, per level: ``{"unit_id", "levels": [{"level", "players",
    "guesses", "mean_score", "humans", "bots"}]}`` (levels without guesses are left out; practice and
    feedback-off games do not count)."""
    stmt = (
        select(
            Round.level,
            Player.kind,
            func.count(func.distinct(Guess.player_id)),
            func.count(Guess.id),
            func.sum(Guess.score),
        )
        .join(Round, Round.id == Guess.round_id)
        .join(Game, Game.id == Round.game_id)
        .join(Player, Player.id == Guess.player_id)
        .where(Round.unit_id == unit_id, RANKED_GAME)
        .group_by(Round.level, Player.kind)
    )
    levels: dict[int, dict[str, Any]] = {}
    for level, kind, players, guesses, total in s.execute(stmt):
        cell = levels.setdefault(
            int(level), {"level": int(level), "players": 0, "guesses": 0, "total": 0.0, "humans": 0, "bots": 0}
        )
        cell["players"] += int(players)
        cell["guesses"] += int(guesses)
        cell["total"] += float(total or 0.0)
        cell["humans" if kind == "human" else "bots"] += int(players)
    out = []
    for level in sorted(levels):
        cell = levels[level]
        total = cell.pop("total")
        cell["mean_score"] = total / cell["guesses"] if cell["guesses"] else None
        out.append(cell)
    return {"unit_id": unit_id, "levels": out}
