"""modality_profiles.head_state and enrolled_signatures; raw-timing replay signatures erased

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01

``head_state``: a nullable blob of named float32 arrays (``biometrics.profiles.state_to_bytes``),
the per-user head a modality scorer fitted at enrollment; null where the head stores nothing
(a distance head). ``enrolled_signatures``: the replay sketches of enrolled sessions, kept
apart from those of scored sessions so that scoring can never evict them. The ``signatures``
written before held raw inter-event intervals and pointer steps (timings at rest that the
keyed sketches of ``biometrics.guards`` replace, and that this release ignores): upgrading
empties them. Downgrading drops the two columns; the erased timings do not come back.
Frozen: never change it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

#: ``biometrics.profiles.vectors_to_bytes(())``, written out so the revision never changes.
_NO_VECTORS = b"BMV1\x00\x00\x00\x00"


def upgrade() -> None:
    with op.batch_alter_table("modality_profiles") as batch:
        batch.add_column(sa.Column("head_state", sa.LargeBinary(), nullable=True))
        batch.add_column(sa.Column("enrolled_signatures", sa.LargeBinary(), nullable=True))
    table = sa.table("modality_profiles", sa.column("signatures", sa.LargeBinary()))
    op.execute(table.update().values(signatures=_NO_VECTORS))


def downgrade() -> None:
    with op.batch_alter_table("modality_profiles") as batch:
        batch.drop_column("enrolled_signatures")
        batch.drop_column("head_state")
