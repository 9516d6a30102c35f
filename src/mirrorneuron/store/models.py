"""Tables of the gameplay store (SQLAlchemy 2.0 typed declarative). DESIGN.md §4.

A :class:`Round` is a question as served: its ``payload`` never holds the truth; ``actual`` and ``token``
are server-side only. Guesses are unique per (player, round).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores naive UTC; we re-attach the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime(), dict[str, Any]: JSON(), list[Any]: JSON()}


class Player(Base):
    __tablename__ = "players"
    __table_args__ = (CheckConstraint("kind IN ('human', 'bot')", name="kind"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    display_name: Mapped[str | None] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(8), default="human")
    bot_name: Mapped[str | None] = mapped_column(String(40))  # bots only: which bot and which version of it
    bot_version: Mapped[str | None] = mapped_column(String(40))
    tutorial_done_at: Mapped[datetime | None] = mapped_column()  # finished or skipped the tutorial
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Model(Base):
    __tablename__ = "models"

    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    modality: Mapped[str] = mapped_column(String(16))
    checksum: Mapped[str] = mapped_column(String(128))
    # training knobs and capability (activation, width, depth, l1, data, task, seed, val_loss, …)
    attributes: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default="{}")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Unit(Base):
    __tablename__ = "units"

    id: Mapped[str] = mapped_column(String(400), primary_key=True)
    model_id: Mapped[str] = mapped_column(ForeignKey("models.id"), index=True)
    site: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))
    index: Mapped[int] = mapped_column(Integer)
    stats: Mapped[dict[str, Any]] = mapped_column(default=dict)


class UnitScore(Base):
    """One automated finder's score of one unit (``finders``); None where the finder cannot score it."""

    __tablename__ = "unit_scores"
    __table_args__ = (UniqueConstraint("unit_id", "finder"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    unit_id: Mapped[str] = mapped_column(ForeignKey("units.id"))
    finder: Mapped[str] = mapped_column(String(64), index=True)
    finder_version: Mapped[str] = mapped_column(String(32))
    score: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Example(Base):
    """Content-addressed: the id is a hash of the example's content, so the first registration wins."""

    __tablename__ = "examples"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    model_id: Mapped[str] = mapped_column(ForeignKey("models.id"), index=True)
    harvest_index: Mapped[int] = mapped_column(Integer)
    payload: Mapped[dict[str, Any]] = mapped_column()


class Study(Base):
    __tablename__ = "studies"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    config: Mapped[dict[str, Any]] = mapped_column()
    owner_id: Mapped[str] = mapped_column(ForeignKey("players.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column()  # None while open: an open study locks its units


class Game(Base):
    """One played session of N rounds on one unit at one level."""

    __tablename__ = "games"
    __table_args__ = (
        Index(None, "player_id", "created_at"),
        Index(None, "unit_id", "level"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    player_id: Mapped[str] = mapped_column(ForeignKey("players.id"))
    unit_id: Mapped[str] = mapped_column(ForeignKey("units.id"))
    level: Mapped[int] = mapped_column(Integer)
    feedback: Mapped[bool] = mapped_column(Boolean, default=True)
    study_id: Mapped[str | None] = mapped_column(ForeignKey("studies.id"), index=True)
    seed: Mapped[int] = mapped_column(Integer, default=0)
    practice: Mapped[bool] = mapped_column(Boolean, default=False)
    # how the rounds were drawn: "casual", a study's "between" / "within" design, "bots", or "simulated" (analysis)
    design: Mapped[str] = mapped_column(String(16), default="casual", server_default="casual")
    client: Mapped[str] = mapped_column(String(16), default="web", server_default="web")  # web, terminal, cli
    policy: Mapped[str | None] = mapped_column(String(64))  # how the unit was chosen (None: by the player)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    rounds: Mapped[list[Round]] = relationship(back_populates="game", order_by="Round.seq")


class Round(Base):
    __tablename__ = "rounds"
    __table_args__ = (
        UniqueConstraint("game_id", "seq"),
        Index(None, "unit_id", "level"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    game_id: Mapped[str] = mapped_column(ForeignKey("games.id"))
    seq: Mapped[int] = mapped_column(Integer)
    unit_id: Mapped[str] = mapped_column(ForeignKey("units.id"))
    example_id: Mapped[str] = mapped_column(ForeignKey("examples.id"))
    example_index: Mapped[int] = mapped_column(Integer)
    level: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(16))
    weight: Mapped[float] = mapped_column(Float)
    scale: Mapped[float] = mapped_column(Float)
    token: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column()
    actual: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    game: Mapped[Game] = relationship(back_populates="rounds")


class Guess(Base):
    __tablename__ = "guesses"
    __table_args__ = (UniqueConstraint("player_id", "round_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    player_id: Mapped[str] = mapped_column(ForeignKey("players.id"))
    round_id: Mapped[str] = mapped_column(ForeignKey("rounds.id"), index=True)
    value: Mapped[float] = mapped_column(Float)
    score: Mapped[float] = mapped_column(Float)  # closeness (DESIGN §6), kept for analysis
    points: Mapped[float | None] = mapped_column(Float)  # insight points; null on rows before 0003
    points_version: Mapped[str | None] = mapped_column(String(16))
    seconds: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Imitation(Base):
    """A player-authored rule predicting a unit on any example (used for build-out)."""

    __tablename__ = "imitations"
    __table_args__ = (Index(None, "player_id", "unit_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    player_id: Mapped[str] = mapped_column(ForeignKey("players.id"))
    unit_id: Mapped[str] = mapped_column(ForeignKey("units.id"), index=True)
    rule: Mapped[dict[str, Any]] = mapped_column()  # the parsed rule (buildout.rules)
    version: Mapped[int] = mapped_column(Integer, default=1)  # 1, 2, … per player + unit
    source: Mapped[str] = mapped_column(Text, default="")  # the rule as the player typed it
    scores: Mapped[dict[str, Any] | None] = mapped_column()  # held-out metrics; None until scored
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Explanation(Base):
    """A one-sentence explanation of a unit, by a player or an LLM, scored by simulation (build-out)."""

    __tablename__ = "explanations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    unit_id: Mapped[str] = mapped_column(ForeignKey("units.id"), index=True)
    player_id: Mapped[str | None] = mapped_column(ForeignKey("players.id"))
    author: Mapped[str] = mapped_column(String(128))  # the player's id, or "llm:<backend>"
    text: Mapped[str] = mapped_column(Text)
    scores: Mapped[dict[str, Any] | None] = mapped_column()  # simulation scores; None until scored
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RateBucket(Base):
    """A per-player token bucket kept in the database, so every web worker enforces the same limit."""

    __tablename__ = "rate_buckets"

    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    tokens: Mapped[float] = mapped_column(Float)
    updated: Mapped[float] = mapped_column(Float)  # wall-clock seconds of the last refill
