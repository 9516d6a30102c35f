"""Games, rounds and guesses: the hot path of the web game.

:func:`submit_guess` is the one function here that commits: a guess is durable before the caller reveals
the answer. It costs one SELECT (the round and its game's player) and one INSERT … RETURNING.

The two per-request functions, :func:`next_round` and :func:`submit_guess`, run pre-built Core statements
and build plain (transient) ORM objects from the rows: a quarter of the cost of the ORM query path.
"""

from __future__ import annotations

import hmac
import math
from typing import Any, NamedTuple, cast

from sqlalchemy import Connection, Table, Text, and_, bindparam, exists, func, insert, select
from sqlalchemy import cast as sql_cast
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mirrorneuron.game.levels import Level
from mirrorneuron.game.scoring import POINTS_VERSION, insight_points, round_score
from mirrorneuron.store.catalog import new_id
from mirrorneuron.store.errors import AlreadyGuessed, Forbidden, NotFound
from mirrorneuron.store.models import Game, Guess, Round, utcnow

ROUND_KEYS = ("seq", "example_id", "example_index", "source", "weight", "scale", "payload", "actual")
SECRET_KEYS = ("actual", "token")

_rounds, _games, _guesses = (cast(Table, t.__table__) for t in (Round, Game, Guess))

# The lowest-seq round of a game without a guess by the game's player: walks the (game_id, seq) index and
# probes the (player_id, round_id) one.
_NEXT_ROUND_FROM = (
    select(_rounds.c.id)
    .join(_games, _games.c.id == _rounds.c.game_id)
    .where(
        _rounds.c.game_id == bindparam("game_id"),
        ~exists().where(_guesses.c.round_id == _rounds.c.id, _guesses.c.player_id == _games.c.player_id),
    )
    .order_by(_rounds.c.seq)
    .limit(1)
)
_NEXT_ROUND = _NEXT_ROUND_FROM.with_only_columns(*_rounds.c)
# What the round endpoint serves: the payload as its stored JSON text (the web layer validates that text
# against its response model; no JSON decoding into dicts here) and never the answer.
_SERVE_ROUND = _NEXT_ROUND_FROM.with_only_columns(
    _rounds.c.id, _rounds.c.seq, _rounds.c.token, sql_cast(_rounds.c.payload, Text).label("payload_json")
)
_ROUND_AND_OWNER = (
    select(_rounds, _games.c.player_id.label("owner"))
    .join(_games, _games.c.id == _rounds.c.game_id)
    .where(_rounds.c.id == bindparam("round_id"))
)
_INSERT_GUESS = insert(_guesses).returning(*_guesses.c)
_COUNT_ROUNDS = select(func.count()).select_from(_rounds).where(_rounds.c.game_id == bindparam("game_id"))


def _finite(name: str, x: Any) -> float:
    value = float(x)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {x!r}")
    return value


def round_baseline(rnd: Round) -> float | None:
    """The uninformed guess of a stored round: its payload's level-0 mean (None if the payload has none)."""
    mean = rnd.payload.get("hints", {}).get("stats", {}).get("mean")
    return None if mean is None else float(mean)


def guess_scores(rnd: Round, value: float) -> dict[str, Any]:
    """The stored scores of guessing ``value`` on ``rnd``: closeness ``score`` (DESIGN §6) and insight
    ``points`` with their ``points_version`` (both None when the payload holds no level-0 mean)."""
    baseline = round_baseline(rnd)
    points = (
        None
        if baseline is None
        else insight_points(value, rnd.actual, baseline, rnd.scale, Level(rnd.level).multiplier)
    )
    return {
        "score": round_score(value, rnd.actual, rnd.scale),
        "points": points,
        "points_version": None if points is None else POINTS_VERSION,
    }


def round_max_points(rnd: Round) -> float | None:
    """The points a perfect guess earns on ``rnd`` (None when the payload holds no level-0 mean)."""
    return guess_scores(rnd, rnd.actual)["points"]


def create_game(
    s: Session,
    player_id: str,
    unit_id: str,
    level: int,
    feedback: bool,
    seed: int,
    rounds: list[dict[str, Any]],
    study_id: str | None = None,
    practice: bool = False,
    design: str = "casual",
    client: str = "web",
    policy: str | None = None,
) -> Game:
    """A game of ``rounds`` (dicts with seq, example_id, example_index, source, weight, scale, payload,
    actual) for one player on one unit at one level. Round ids and secret tokens are generated here.
    ``design`` (casual, between, within, bots), ``client`` (web, terminal, cli) and ``policy`` (how the unit
    was chosen) are recorded with the seed, so analysis can tell how each game was drawn."""
    if not rounds:
        raise ValueError("a game needs at least one round")
    seqs = [int(r["seq"]) for r in rounds]
    if len(set(seqs)) != len(seqs):
        raise ValueError("round seq numbers must be unique within a game")
    game = Game(
        id=new_id(9),
        player_id=player_id,
        unit_id=unit_id,
        level=int(level),
        feedback=bool(feedback),
        seed=int(seed),
        study_id=study_id,
        practice=bool(practice),
        design=design,
        client=client,
        policy=policy,
        created_at=utcnow(),
    )
    s.add(game)
    for r in rounds:
        missing = [k for k in ROUND_KEYS if k not in r]
        if missing:
            raise ValueError(f"round dict is missing {missing}")
        payload = r["payload"]
        if not isinstance(payload, dict) or any(k in payload for k in SECRET_KEYS):
            raise ValueError("a round payload must be a dict without 'actual' or 'token': it is served as is")
        scale = _finite("scale", r["scale"])
        if scale <= 0:
            raise ValueError(f"scale must be positive, got {scale}")
        s.add(
            Round(
                id=new_id(12),
                game=game,
                seq=int(r["seq"]),
                unit_id=unit_id,
                example_id=str(r["example_id"]),
                example_index=int(r["example_index"]),
                level=int(level),
                source=str(r["source"]),
                weight=_finite("weight", r["weight"]),
                scale=scale,
                token=new_id(16),
                payload=payload,
                actual=_finite("actual", r["actual"]),
                created_at=game.created_at,
            )
        )
    s.flush()
    return game


def get_game(s: Session, game_id: str) -> Game | None:
    return s.get(Game, game_id)


def get_round(s: Session, round_id: str) -> Round | None:
    return s.get(Round, round_id)


def count_rounds(s: Session, game_id: str) -> int:
    """How many rounds the game has (counted on the (game_id, seq) index; no round is loaded)."""
    return int(s.connection().execute(_COUNT_ROUNDS, {"game_id": game_id}).scalar_one())


def next_round(s: Session, game_id: str) -> Round | None:
    """The lowest-seq round of the game not yet guessed by the game's player (None when all are done).
    The round is a transient object, not attached to ``s``."""
    row = s.connection().execute(_NEXT_ROUND, {"game_id": game_id}).first()
    return None if row is None else Round(**row._mapping)


class ServedRound(NamedTuple):
    """The next round as the round endpoint serves it: no ``actual``; the payload as stored JSON text."""

    id: str
    seq: int
    token: str
    payload_json: str


def serve_round(conn: Connection, game_id: str) -> ServedRound | None:
    """:func:`next_round`'s round, as :class:`ServedRound` (one indexed SELECT on a plain connection)."""
    row = conn.execute(_SERVE_ROUND, {"game_id": game_id}).first()
    return None if row is None else ServedRound(*row)


def game_results(s: Session, game_id: str) -> list[tuple[Round, Guess | None]]:
    """Every round of the game with the player's guess (or None), ordered by seq."""
    stmt = (
        select(Round, Guess)
        .join(Game, Game.id == Round.game_id)
        .outerjoin(Guess, and_(Guess.round_id == Round.id, Guess.player_id == Game.player_id))
        .where(Round.game_id == game_id)
        .order_by(Round.seq)
    )
    return [(r, g) for r, g in s.execute(stmt)]


def submit_guess(
    s: Session | Connection, player_id: str, round_id: str, token: str | None, value: float, seconds: float | None
) -> tuple[Guess, Round]:
    """Store ``player_id``'s guess for ``round_id`` and COMMIT before returning (on a session, or on a plain
    connection: the web's guess, ≈ 100 µs less).

    Raises ValueError (non-finite value/seconds), NotFound (no such round), Forbidden (round of another
    player's game, or missing/wrong token) and AlreadyGuessed (a guess exists, also under races: the UNIQUE
    constraint decides and the loser's transaction is rolled back). The guess and round returned are transient
    objects, not attached to ``s``.
    """
    value = _finite("guess", value)
    if seconds is not None:
        seconds = _finite("seconds", seconds)
        if seconds < 0:
            raise ValueError(f"seconds must be ≥ 0, got {seconds}")
    conn = s if isinstance(s, Connection) else s.connection()  # Core statements, the caller's transaction
    row = conn.execute(_ROUND_AND_OWNER, {"round_id": round_id}).first()
    if row is None:
        raise NotFound(f"no round {round_id!r}")
    fields = dict(row._mapping)
    if fields.pop("owner") != player_id:
        raise Forbidden("this round belongs to another player's game")
    rnd = Round(**fields)
    if not token or not hmac.compare_digest(str(token).encode(), rnd.token.encode()):
        raise Forbidden("missing or wrong round token")
    values = {
        "player_id": player_id,
        "round_id": round_id,
        "value": value,
        **guess_scores(rnd, value),
        "seconds": seconds,
        "created_at": utcnow(),
    }
    try:
        inserted = conn.execute(_INSERT_GUESS, values).one()
        s.commit()
    except IntegrityError:
        s.rollback()
        raise AlreadyGuessed(f"round {round_id!r} was already guessed") from None
    return Guess(**inserted._mapping), rnd
