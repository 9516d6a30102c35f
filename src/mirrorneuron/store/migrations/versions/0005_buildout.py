"""Build-out and scale-out: versioned imitations, explanations, a rate-limit table shared by workers.

- ``imitations.version`` (1, 2, … per player + unit), ``imitations.source`` (the rule as the player typed
  it; ``rule`` keeps the parsed form) and ``imitations.scores`` (held-out metrics, null until scored).
- ``explanations``: a one-sentence explanation of a unit by a player or an LLM (``author`` is the player's
  id or ``llm:<backend>``), with its simulation scores (null until scored).
- ``rate_buckets``: the per-player token buckets, in the database so every worker sees the same limit.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("imitations") as b:
        b.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default="1"))
        b.add_column(sa.Column("source", sa.Text(), nullable=False, server_default=""))
        b.add_column(sa.Column("scores", sa.JSON(), nullable=True))
    op.create_table(
        "explanations",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("unit_id", sa.String(400), sa.ForeignKey("units.id", name="fk_explanations_unit_id_units"),
                  nullable=False),
        sa.Column("player_id", sa.String(64), sa.ForeignKey("players.id", name="fk_explanations_player_id_players"),
                  nullable=True),
        sa.Column("author", sa.String(128), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("scores", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_explanations"),
    )
    op.create_index("ix_explanations_unit_id", "explanations", ["unit_id"])
    op.create_table(
        "rate_buckets",
        sa.Column("key", sa.String(128), nullable=False),
        sa.Column("tokens", sa.Float(), nullable=False),
        sa.Column("updated", sa.Float(), nullable=False),  # wall-clock seconds (time.time) of the last refill
        sa.PrimaryKeyConstraint("key", name="pk_rate_buckets"),
    )


def downgrade() -> None:
    op.drop_table("rate_buckets")
    op.drop_index("ix_explanations_unit_id", table_name="explanations")
    op.drop_table("explanations")
    # Plain DROP COLUMN, as in 0004: a batch copy of a table other tables point at breaks on SQLite FKs.
    op.drop_column("imitations", "scores")
    op.drop_column("imitations", "source")
    op.drop_column("imitations", "version")
