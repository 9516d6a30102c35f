"""Share links of finished games: the signed token, and the totals a shared page shows.

A token is ``<game id>.<signature>`` (HMAC of the game id under the deployment's secret): unguessable,
and it names no value. The shared page shows totals of finished games only — the player's points and
closeness, the other players' on the same rounds (the daily unit's day) or on the unit and level, and the
bots' on the same rounds — never a round's example, guess or truth; and it withholds the others while the
viewer has an unfinished game on the unit, like the leaderboards.
"""

from __future__ import annotations

import base64
import hmac
from bisect import bisect_left
from typing import Any

from sqlalchemy.orm import Session

from mirrorneuron.game.scoring import POINTS_VERSION
from mirrorneuron.store import repo
from mirrorneuron.store.boards import bot_totals, finished_games, max_points
from mirrorneuron.store.errors import NotFound
from mirrorneuron.store.locks import ensure_unlocked
from mirrorneuron.store.models import Game
from mirrorneuron.web.schemas.sharing import BotTotal, Distribution, GameTotal, ShareOut
from mirrorneuron.web.security import PlayerKeys
from mirrorneuron.web.services.games import level_out
from mirrorneuron.web.services.players import has_open_game

PURPOSE = "share"


def _signature(keys: PlayerKeys, game_id: str) -> str:
    return base64.urlsafe_b64encode(keys.digest(PURPOSE, game_id)[:16]).decode().rstrip("=")


def share_token(keys: PlayerKeys, game_id: str) -> str:
    return f"{game_id}.{_signature(keys, game_id)}"


def game_of_token(keys: PlayerKeys, token: str) -> str:
    """The game id a token signs; NotFound (404) for a forged or mangled token."""
    game_id, _, sig = token.partition(".")
    if not game_id or not sig or not hmac.compare_digest(sig, _signature(keys, game_id)):
        raise NotFound("no such share link")
    return game_id


def _beaten(sorted_values: list[float], value: float) -> float | None:
    return bisect_left(sorted_values, value) / len(sorted_values) if sorted_values else None


def _others(rows: list[dict[str, Any]], you: dict[str, Any]) -> Distribution:
    points = sorted(r["points"] / r["rounds"] for r in rows)
    scores = sorted(r["mean_score"] for r in rows)
    return Distribution(
        n=len(rows),
        points=points,
        mean_scores=scores,
        beaten_points=_beaten(points, you["points"] / you["rounds"]),
        beaten_closeness=_beaten(scores, you["mean_score"]),
    )


def share_view(s: Session, game_id: str, viewer: str | None) -> ShareOut:
    """The shared page's data; NotFound unless the game is a finished, ranked game (feedback on)."""
    game = repo.get_game(s, game_id)
    mine = [g for g in finished_games(s, Game.id == game_id)] if game is not None else []
    if game is None or not mine:
        raise NotFound("no finished game behind this share link")
    ensure_unlocked(s, game.unit_id)  # an open study's unit: its players' totals are not shown yet
    you = mine[0]
    daily = game.policy if game.design == "daily" and game.policy else None
    if daily:
        same = finished_games(s, Game.design == "daily", Game.policy == daily, Game.id != game_id)
    else:
        same = finished_games(s, Game.unit_id == game.unit_id, Game.level == game.level, Game.id != game_id)
    withheld = has_open_game(s, viewer, game.unit_id)
    return ShareOut(
        unit_id=game.unit_id,
        level=level_out(game.level),
        daily=daily.removeprefix("daily:") if daily else None,
        points_version=POINTS_VERSION,
        player=GameTotal(**{k: you[k] for k in GameTotal.model_fields if k in you}),
        max_points=max_points(s, game_id),
        others=None if withheld else _others(same, you),
        bots=[] if withheld else [BotTotal(**b) for b in bot_totals(s, game_id)],
        withheld=withheld,
    )
