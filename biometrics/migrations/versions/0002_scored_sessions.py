"""scored_sessions: the answer given to a request that named a session id

Revision ID: 0002
Revises: 0001
Create Date: 2025-01-02

One row per (tenant, operation, session id): the user it was for (erased with the user),
an HMAC fingerprint of the request and the JSON answer. Frozen: never change it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "scored_sessions",
        sa.Column("tenant", sa.String(128), primary_key=True),
        sa.Column("operation", sa.String(16), primary_key=True),
        sa.Column("session_id", sa.String(36), primary_key=True),
        sa.Column("user_id", _ID, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_scored_sessions_user_id", "scored_sessions", ["user_id"])
    op.create_index("ix_scored_sessions_created_at", "scored_sessions", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_scored_sessions_created_at", table_name="scored_sessions")
    op.drop_index("ix_scored_sessions_user_id", table_name="scored_sessions")
    op.drop_table("scored_sessions")
