"""Serving players the right units: named policies that choose a surprise unit among a model's candidates.

Every policy first drops the units an open study locks, then picks one and returns the policy string that is
stored on the game (``games.policy``) so analysis can compare policies:

- ``random`` — a seeded uniform draw (``random:v1``).
- ``finder:<name>`` — the highest score of a stored finder (``unit_scores``), ties by seed
  (``finder:<name>:v1``); a model the finder never scored falls back to random (``finder:<name>:v1>random``).
- ``matched`` — a unit whose estimated ease fits the player's skill (``matched:v1``). A unit's ease is its
  mean human closeness (0–1) shrunk towards a prior by :data:`EASE_PRIOR_ROUNDS` pseudo-rounds; the prior is
  the unit's percentile under :data:`MATCH_FINDERS` (first one stored) or, unscored, the mean closeness of all
  played units. The skill is 0 for a new player and rises towards 1 with the mean insight points per round
  (shrunk by :data:`SKILL_PRIOR_ROUNDS`); skill s draws from the units ranked near quantile s of ease
  (0 = easiest); a player's first game gets the easiest. With nothing known about any unit, the caller's
  ``easy`` unit is used for a player with skill below ½ (``matched:v1>easy``; the web passes the tutorial's
  unigram-R² rule), else random (``matched:v1>random``).
- ``bandit`` — UCB1 over units (``bandit:ucb1:v1``): a unit's reward is the mean over its human games of
  ½·completion (answered / rounds) + ½·replayed (its player started a later game on the same unit); an unplayed
  unit has infinite bound, so it is explored first. Ties break by seed: deterministic given the seed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Container, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import Select, and_, func, select
from sqlalchemy.orm import Session

from mirrorneuron.store.models import Game, Guess, Player, Round, UnitScore
from mirrorneuron.types import UserError

POLICIES = ("random", "matched", "bandit", "finder:<name>")
DEFAULT_POLICY = "matched"
FINDER_NAME = re.compile(r"^[a-z][a-z0-9_.-]{0,47}$")  # fits games.policy (64 chars) with its prefix/suffix
MATCH_FINDERS = ("imitability_ridge_l1", "unigram_r2")
EASE_PRIOR_ROUNDS = 10.0
SKILL_PRIOR_ROUNDS = 20.0
SKILL_HALF_POINTS = 10.0  # mean insight points per round at which the skill is half its ceiling
MATCH_WINDOW = 0.05  # share of the candidates around the target quantile drawn from
UCB_C = math.sqrt(2.0)


@dataclass(frozen=True)
class Choice:
    unit_id: str
    policy: str  # stored on the game


def check_policy(name: str) -> str:
    """``name`` if it names a policy, else ValueError with the valid names."""
    if name in ("random", "matched", "bandit"):
        return name
    if name.startswith("finder:") and FINDER_NAME.match(name.removeprefix("finder:")):
        return name
    raise ValueError(f"unknown unit policy {name!r}: use one of {', '.join(POLICIES)} (e.g. finder:unigram_r2)")


def unlocked(candidates: Sequence[str], locked: Container[str]) -> list[str]:
    """The candidates no open study locks (kept in order)."""
    return [u for u in candidates if u not in locked]


def has_played(s: Session, player_id: str) -> bool:
    """Whether the player has started any game."""
    return s.scalar(select(Game.id).where(Game.player_id == player_id).limit(1)) is not None


def _human_guesses() -> Select[Any]:
    """Guesses by humans on their own feedback games (the join every estimate here reads)."""
    return (
        select()
        .select_from(Guess)
        .join(Round, Round.id == Guess.round_id)
        .join(Game, and_(Game.id == Round.game_id, Game.player_id == Guess.player_id))
        .join(Player, Player.id == Guess.player_id)
        .where(Player.kind == "human", Game.feedback.is_(True))
    )


def player_skill(s: Session, player_id: str | None) -> float:
    """0 (new) → 1: the mean insight points per round, saturating, shrunk by the number of rounds played."""
    if player_id is None:
        return 0.0
    q = (
        _human_guesses()
        .add_columns(func.count(Guess.points), func.avg(Guess.points))
        .where(Guess.player_id == player_id)
    )
    n, mean = s.execute(q).one()
    if not n:
        return 0.0
    m = max(0.0, float(mean))
    return n / (n + SKILL_PRIOR_ROUNDS) * m / (m + SKILL_HALF_POINTS)


def finder_scores(s: Session, finder: str, units: Sequence[str]) -> dict[str, float]:
    """Stored non-null scores of ``finder`` on ``units``."""
    wanted = set(units)
    q = select(UnitScore.unit_id, UnitScore.score).where(UnitScore.finder == finder, UnitScore.score.is_not(None))
    return {u: float(v) for u, v in s.execute(q) if u in wanted and v is not None}


def unit_closeness(s: Session, units: Sequence[str]) -> dict[str, tuple[int, float]]:
    """Unit → (human rounds answered, mean closeness 0–1) over feedback games."""
    wanted = set(units)
    q = _human_guesses().add_columns(Round.unit_id, func.count(Guess.id), func.avg(Guess.score)).group_by(Round.unit_id)
    return {u: (int(n), float(m) / 100.0) for u, n, m in s.execute(q) if u in wanted}


def unit_ease(s: Session, units: Sequence[str]) -> dict[str, float] | None:
    """Estimated ease (0–1) of each unit, or None when no unit has gameplay or a matching finder score."""
    played = unit_closeness(s, units)
    scores = next((sc for f in MATCH_FINDERS if (sc := finder_scores(s, f, units))), {})
    if not played and not scores:
        return None
    ranked = sorted(scores, key=scores.__getitem__)
    pct = {u: (i + 0.5) / len(ranked) for i, u in enumerate(ranked)}
    total = sum(n for n, _ in played.values())
    overall = sum(n * m for n, m in played.values()) / total if total else 0.5
    out = {}
    for u in units:
        n, m = played.get(u, (0, 0.0))
        prior = pct.get(u, overall)
        out[u] = (n * m + EASE_PRIOR_ROUNDS * prior) / (n + EASE_PRIOR_ROUNDS)
    return out


def unit_rewards(s: Session, units: Sequence[str]) -> dict[str, list[float]]:
    """Unit → enjoyment reward (0–1) of each human game on it: ½·completion + ½·replayed."""
    wanted = set(units)
    answered = (
        select(Round.game_id, func.count(Round.id).label("n"), func.count(Guess.id).label("done"))
        .join(Game, Game.id == Round.game_id)
        .outerjoin(Guess, and_(Guess.round_id == Round.id, Guess.player_id == Game.player_id))
        .group_by(Round.game_id)
        .subquery()
    )
    q = (
        select(Game.unit_id, Game.player_id, Game.created_at, answered.c.n, answered.c.done)
        .join(answered, answered.c.game_id == Game.id)
        .join(Player, Player.id == Game.player_id)
        .where(Player.kind == "human")
        .order_by(Game.created_at, Game.id)
    )
    rows = [r for r in s.execute(q) if r[0] in wanted]
    later: set[tuple[str, str]] = set()  # (unit, player) pairs with a later game, walking back in time
    rewards: list[tuple[str, float]] = []
    for unit, player, _, n, done in reversed(rows):
        rewards.append((unit, 0.5 * (done / n if n else 0.0) + 0.5 * float((unit, player) in later)))
        later.add((unit, player))
    out: dict[str, list[float]] = {}
    for unit, r in reversed(rewards):
        out.setdefault(unit, []).append(r)
    return out


def _pick(rng: np.random.Generator, units: Sequence[str]) -> str:
    return units[int(rng.integers(len(units)))]


def _best(rng: np.random.Generator, value: dict[str, float]) -> str:
    top = max(value.values())
    return _pick(rng, sorted(u for u, v in value.items() if v == top))


def choose_unit(
    s: Session,
    policy: str,
    candidates: Sequence[str],
    seed: int,
    locked: Container[str] = (),
    player_id: str | None = None,
    easy: Callable[[], str] | None = None,
) -> Choice:
    """A unit of ``candidates`` (one model's unit ids) by ``policy`` (see the module docstring), never one in
    ``locked``. UserError when every candidate is locked; ValueError for an unknown policy."""
    check_policy(policy)
    pool = unlocked(candidates, locked)
    if not pool:
        raise UserError("every unit of this model is locked by an open study; name a unit or try another model")
    rng = np.random.default_rng(seed)
    if policy == "random":
        return Choice(_pick(rng, pool), "random:v1")
    if policy.startswith("finder:"):
        name = policy.removeprefix("finder:")
        scores = finder_scores(s, name, pool)
        if not scores:
            return Choice(_pick(rng, pool), f"finder:{name}:v1>random")
        return Choice(_best(rng, scores), f"finder:{name}:v1")
    if policy == "bandit":
        rewards = unit_rewards(s, pool)
        total = sum(len(r) for r in rewards.values())
        bound = {
            u: math.inf
            if u not in rewards
            else float(np.mean(rewards[u])) + UCB_C * math.sqrt(math.log(total) / len(rewards[u]))
            for u in pool
        }
        return Choice(_best(rng, bound), "bandit:ucb1:v1")
    skill = player_skill(s, player_id)
    ease = unit_ease(s, pool)
    if ease is None:
        unit = easy() if easy is not None and skill < 0.5 else None
        if unit is not None and unit in pool:
            return Choice(unit, "matched:v1>easy")
        return Choice(_pick(rng, pool), "matched:v1>random")
    ranked = sorted(pool, key=lambda u: (-ease[u], u))  # easiest first
    if player_id is None or not has_played(s, player_id):
        return Choice(ranked[0], "matched:v1")  # a first game: the easiest estimate, not a draw near it
    target = round(skill * (len(ranked) - 1))
    half = max(0, int(len(ranked) * MATCH_WINDOW) // 2)
    window = ranked[max(0, target - half) : target + half + 1]
    return Choice(_pick(rng, window), "matched:v1")
