"""decisions and feedback: the log of score answers, and the outcomes learnt for them

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01

``decisions``: one row per score answer (tenant, session id when the request named one, the
user's row id, erased with the user, risk, decision, whether it was a policy rather than a
threshold, model version, time); no events, no user id. ``feedback``: one row per (tenant,
session id), the outcome learnt for a decided session (erased with the user). Frozen: never
change it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "decisions",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("tenant", sa.String(128), nullable=False),
        sa.Column("session_id", sa.String(36), nullable=True),
        sa.Column("user_id", _ID, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("risk", sa.Double(), nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("by_policy", sa.Boolean(), nullable=False),
        sa.Column("model_version", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_decisions_tenant_session_id", "decisions", ["tenant", "session_id"])
    op.create_index("ix_decisions_user_id", "decisions", ["user_id"])
    op.create_index("ix_decisions_created_at", "decisions", ["created_at"])
    op.create_table(
        "feedback",
        sa.Column("tenant", sa.String(128), primary_key=True),
        sa.Column("session_id", sa.String(36), primary_key=True),
        sa.Column("user_id", _ID, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("learnt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_feedback_user_id", "feedback", ["user_id"])
    op.create_index("ix_feedback_created_at", "feedback", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_feedback_created_at", table_name="feedback")
    op.drop_index("ix_feedback_user_id", table_name="feedback")
    op.drop_table("feedback")
    op.drop_index("ix_decisions_created_at", table_name="decisions")
    op.drop_index("ix_decisions_user_id", table_name="decisions")
    op.drop_index("ix_decisions_tenant_session_id", table_name="decisions")
    op.drop_table("decisions")
