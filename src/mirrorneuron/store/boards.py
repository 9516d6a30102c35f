"""Read models over finished games: the daily board, the per-level points board, a shared game's comparison.

Only finished games count (every round answered by the game's player): a total that moved after each guess
would tell how a round went while others still play the same rounds (the daily unit); and the level board
leaves out the units an open study locks (their scores are refused like their values). Insight points count
only when made by the current formula (:data:`~mirrorneuron.game.scoring.POINTS_VERSION`), so a board never
adds points of two formulas; practice and feedback-off games do not count (as in ``stats``).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, select
from sqlalchemy.orm import Session

from mirrorneuron.game.scoring import POINTS_VERSION
from mirrorneuron.store.locks import locked_units
from mirrorneuron.store.models import Game, Guess, Player, Round
from mirrorneuron.store.play import round_max_points
from mirrorneuron.store.stats import RANKED_GAME, player_label

MIN_LEVEL_BOARD_ROUNDS = 3
_CURRENT_POINTS = func.sum(case((Guess.points_version == POINTS_VERSION, Guess.points), else_=0.0))


def finished_games(s: Session, *where: ColumnElement[bool]) -> list[dict[str, Any]]:
    """Finished ranked games of human players matching ``where``, one dict each: game_id, player_id, name,
    rounds, points (current formula), mean_score (closeness), created_at."""
    stmt = (
        select(
            Game.id,
            Game.player_id,
            Player.display_name,
            Game.created_at,
            func.count(Round.id),
            func.count(Guess.id),
            _CURRENT_POINTS,
            func.avg(Guess.score),
        )
        .join(Round, Round.game_id == Game.id)
        .join(Player, Player.id == Game.player_id)
        .outerjoin(Guess, and_(Guess.round_id == Round.id, Guess.player_id == Game.player_id))
        .where(RANKED_GAME, Player.kind == "human", *where)
        .group_by(Game.id, Game.player_id, Player.display_name, Game.created_at)
        .having(func.count(Guess.id) == func.count(Round.id))
    )
    return [
        {
            "game_id": gid,
            "player_id": pid,
            "name": player_label(pid, name),
            "rounds": int(n),
            "points": float(points or 0.0),
            "mean_score": float(mean),
            "created_at": created,
        }
        for gid, pid, name, created, n, _, points, mean in s.execute(stmt)
    ]


def max_points(s: Session, game_id: str) -> float:
    """The points perfect guesses would earn on the game's rounds."""
    rounds = s.scalars(select(Round).where(Round.game_id == game_id)).all()
    return float(sum(round_max_points(r) or 0.0 for r in rounds))


def _ranked(rows: list[dict[str, Any]], limit: int) -> list[dict[str, Any]]:
    rows = sorted(rows, key=lambda r: (-r["points"], -r["mean_score"], r["name"]))
    return [{"rank": i + 1, **r} for i, r in enumerate(rows[: max(0, int(limit))])]


def daily_board(s: Session, policy: str, limit: int = 50) -> list[dict[str, Any]]:
    """The day's finished daily games (``policy``: ``daily:YYYY-MM-DD``), ranked by insight points."""
    return _ranked(finished_games(s, Game.design == "daily", Game.policy == policy), limit)


def level_board(s: Session, level: int, limit: int = 20) -> list[dict[str, Any]]:
    """Human players ranked by the insight points of their finished games at ``level`` on every unit but those
    an open study locks (at least 3 rounds to be listed). Keys: rank, player_id, name, games, rounds, points,
    points_per_round, mean_score."""
    per: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for g in finished_games(s, Game.level == int(level), Game.unit_id.not_in(list(locked_units(s)))):
        per[g["player_id"]].append(g)
    rows = []
    for pid, games in per.items():
        rounds = sum(g["rounds"] for g in games)
        if rounds < MIN_LEVEL_BOARD_ROUNDS:
            continue
        points = sum(g["points"] for g in games)
        rows.append(
            {
                "player_id": pid,
                "name": games[0]["name"],
                "games": len(games),
                "rounds": rounds,
                "points": points,
                "points_per_round": points / rounds,
                "mean_score": sum(g["mean_score"] * g["rounds"] for g in games) / rounds,
            }
        )
    return _ranked(rows, limit)


def bot_totals(s: Session, game_id: str) -> list[dict[str, Any]]:
    """The bots' plays on the game's rounds (stored with its summary): name, rounds, points, mean_score."""
    stmt = (
        select(Player.bot_name, Player.display_name, func.count(Guess.id), _CURRENT_POINTS, func.avg(Guess.score))
        .join(Guess, Guess.player_id == Player.id)
        .join(Round, Round.id == Guess.round_id)
        .where(Round.game_id == game_id, Player.kind == "bot")
        .group_by(Player.id, Player.bot_name, Player.display_name)
        .order_by(Player.bot_name)
    )
    return [
        {"name": bot or label or "bot", "rounds": int(n), "points": float(points or 0.0), "mean_score": float(mean)}
        for bot, label, n, points, mean in s.execute(stmt)
    ]
