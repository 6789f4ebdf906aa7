"""users and modality_profiles: the schema of the release before idempotent requests

Revision ID: 0001
Revises:
Create Date: 2025-01-01

Exactly what that release's ``metadata.create_all`` made, so a database it created is
stamped at this revision and upgraded from here. Frozen: never change it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite: the rowid alias


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("tenant", sa.String(128), nullable=False),
        sa.Column("user_key", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("n_sessions", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("tenant", "user_key", name="uq_users_tenant_user_key"),
    )
    op.create_table(
        "modality_profiles",
        sa.Column("user_id", _ID, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("modality", sa.String(16), primary_key=True),
        sa.Column("model_version", sa.String(128), nullable=False),
        sa.Column("embeddings", sa.LargeBinary(), nullable=False),
        sa.Column("genuine_mean", sa.Double(), nullable=False),
        sa.Column("genuine_sd", sa.Double(), nullable=False),
        sa.Column("n_sessions", sa.Integer(), nullable=False),
        sa.Column("signatures", sa.LargeBinary(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("modality_profiles")
    op.drop_table("users")
