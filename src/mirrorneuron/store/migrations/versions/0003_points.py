"""Insight points beside the closeness score: ``guesses.points`` and the formula's ``points_version``.

Rows stored before this migration keep null points (their closeness ``score`` is unchanged).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("guesses") as b:
        b.add_column(sa.Column("points", sa.Float(), nullable=True))
        b.add_column(sa.Column("points_version", sa.String(16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("guesses") as b:
        b.drop_column("points_version")
        b.drop_column("points")
