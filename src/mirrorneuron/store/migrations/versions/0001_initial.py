"""Initial schema: players, models, units, examples, studies, games, rounds, guesses, imitations.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _created_at() -> sa.Column[object]:
    return sa.Column("created_at", sa.DateTime(timezone=True), nullable=False)


def _fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint([column], [f"{target}.id"], name=f"fk_{table}_{column}_{target}")


def upgrade() -> None:
    op.create_table(
        "models",
        sa.Column("id", sa.String(200), nullable=False),
        sa.Column("modality", sa.String(16), nullable=False),
        sa.Column("checksum", sa.String(128), nullable=False),
        _created_at(),
        sa.PrimaryKeyConstraint("id", name="pk_models"),
    )
    op.create_table(
        "players",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("display_name", sa.String(40), nullable=True),
        sa.Column("kind", sa.String(8), nullable=False),
        _created_at(),
        sa.CheckConstraint("kind IN ('human', 'bot')", name="ck_players_kind"),
        sa.PrimaryKeyConstraint("id", name="pk_players"),
    )
    op.create_table(
        "examples",
        sa.Column("id", sa.String(128), nullable=False),
        sa.Column("model_id", sa.String(200), nullable=False),
        sa.Column("harvest_index", sa.Integer(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        _fk("examples", "model_id", "models"),
        sa.PrimaryKeyConstraint("id", name="pk_examples"),
    )
    op.create_index("ix_examples_model_id", "examples", ["model_id"])
    op.create_table(
        "studies",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("owner_id", sa.String(64), nullable=False),
        _created_at(),
        _fk("studies", "owner_id", "players"),
        sa.PrimaryKeyConstraint("id", name="pk_studies"),
    )
    op.create_index("ix_studies_owner_id", "studies", ["owner_id"])
    op.create_table(
        "units",
        sa.Column("id", sa.String(400), nullable=False),
        sa.Column("model_id", sa.String(200), nullable=False),
        sa.Column("site", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("index", sa.Integer(), nullable=False),
        sa.Column("stats", sa.JSON(), nullable=False),
        _fk("units", "model_id", "models"),
        sa.PrimaryKeyConstraint("id", name="pk_units"),
    )
    op.create_index("ix_units_model_id", "units", ["model_id"])
    op.create_table(
        "games",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("player_id", sa.String(64), nullable=False),
        sa.Column("unit_id", sa.String(400), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("feedback", sa.Boolean(), nullable=False),
        sa.Column("study_id", sa.String(32), nullable=True),
        sa.Column("seed", sa.Integer(), nullable=False),
        sa.Column("practice", sa.Boolean(), nullable=False),
        _created_at(),
        _fk("games", "player_id", "players"),
        _fk("games", "study_id", "studies"),
        _fk("games", "unit_id", "units"),
        sa.PrimaryKeyConstraint("id", name="pk_games"),
    )
    op.create_index("ix_games_player_id_created_at", "games", ["player_id", "created_at"])
    op.create_index("ix_games_study_id", "games", ["study_id"])
    op.create_index("ix_games_unit_id_level", "games", ["unit_id", "level"])
    op.create_table(
        "imitations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("player_id", sa.String(64), nullable=False),
        sa.Column("unit_id", sa.String(400), nullable=False),
        sa.Column("rule", sa.JSON(), nullable=False),
        _created_at(),
        _fk("imitations", "player_id", "players"),
        _fk("imitations", "unit_id", "units"),
        sa.PrimaryKeyConstraint("id", name="pk_imitations"),
    )
    op.create_index("ix_imitations_player_id_unit_id", "imitations", ["player_id", "unit_id"])
    op.create_index("ix_imitations_unit_id", "imitations", ["unit_id"])
    op.create_table(
        "rounds",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("game_id", sa.String(32), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.String(400), nullable=False),
        sa.Column("example_id", sa.String(128), nullable=False),
        sa.Column("example_index", sa.Integer(), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("weight", sa.Float(), nullable=False),
        sa.Column("scale", sa.Float(), nullable=False),
        sa.Column("token", sa.String(64), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("actual", sa.Float(), nullable=False),
        _created_at(),
        _fk("rounds", "example_id", "examples"),
        _fk("rounds", "game_id", "games"),
        _fk("rounds", "unit_id", "units"),
        sa.PrimaryKeyConstraint("id", name="pk_rounds"),
        sa.UniqueConstraint("game_id", "seq", name="uq_rounds_game_id_seq"),
    )
    op.create_index("ix_rounds_unit_id_level", "rounds", ["unit_id", "level"])
    op.create_table(
        "guesses",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("player_id", sa.String(64), nullable=False),
        sa.Column("round_id", sa.String(32), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=True),
        _created_at(),
        _fk("guesses", "player_id", "players"),
        _fk("guesses", "round_id", "rounds"),
        sa.PrimaryKeyConstraint("id", name="pk_guesses"),
        sa.UniqueConstraint("player_id", "round_id", name="uq_guesses_player_id_round_id"),
    )
    op.create_index("ix_guesses_round_id", "guesses", ["round_id"])


def downgrade() -> None:
    for table in ("guesses", "rounds", "imitations", "games", "units", "studies", "examples", "players", "models"):
        op.drop_table(table)
