"""Integrity: bot players (name, version), how a game was drawn (design, client, policy), closing studies.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("players") as b:
        b.add_column(sa.Column("bot_name", sa.String(40), nullable=True))
        b.add_column(sa.Column("bot_version", sa.String(40), nullable=True))
    with op.batch_alter_table("games") as b:
        b.add_column(sa.Column("design", sa.String(16), nullable=False, server_default="casual"))
        b.add_column(sa.Column("client", sa.String(16), nullable=False, server_default="web"))
        b.add_column(sa.Column("policy", sa.String(64), nullable=True))
    with op.batch_alter_table("studies") as b:
        b.add_column(sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("studies") as b:
        b.drop_column("closed_at")
    with op.batch_alter_table("games") as b:
        b.drop_column("policy")
        b.drop_column("client")
        b.drop_column("design")
    with op.batch_alter_table("players") as b:
        b.drop_column("bot_version")
        b.drop_column("bot_name")
