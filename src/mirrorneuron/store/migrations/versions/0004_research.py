"""What the research half needs: model attributes, finder scores per unit, a player's tutorial.

- ``models.attributes``: the training knobs and capability of a model (activation, width, depth, l1, weight
  decay, data, task, seed, val_loss / val_accuracy, unigram baseline) so analysis can group by them.
- ``unit_scores``: one score per (unit, finder), with the finder's version; written by ``finders``.
- ``players.tutorial_done_at``: when the player finished or skipped the tutorial (None: not yet).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("models") as b:
        b.add_column(sa.Column("attributes", sa.JSON(), nullable=False, server_default="{}"))
    with op.batch_alter_table("players") as b:
        b.add_column(sa.Column("tutorial_done_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "unit_scores",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("unit_id", sa.String(400), sa.ForeignKey("units.id", name="fk_unit_scores_unit_id_units"),
                  nullable=False),
        sa.Column("finder", sa.String(64), nullable=False),
        sa.Column("finder_version", sa.String(32), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),  # None: the finder cannot score this unit
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_unit_scores"),
        sa.UniqueConstraint("unit_id", "finder", name="uq_unit_scores_unit_id_finder"),
    )
    op.create_index("ix_unit_scores_finder", "unit_scores", ["finder"])


def downgrade() -> None:
    op.drop_index("ix_unit_scores_finder", table_name="unit_scores")
    op.drop_table("unit_scores")
    # Plain DROP COLUMN (SQLite ≥ 3.35 has it natively): batch mode would copy and drop the whole table,
    # which the foreign keys of games, units, … pointing at players and models forbid.
    op.drop_column("players", "tutorial_done_at")
    op.drop_column("models", "attributes")
