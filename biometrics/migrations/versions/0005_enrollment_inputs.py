"""modality_profiles.enrollment_inputs and other_versions: profiles that survive a bundle upgrade

Revision ID: 0005
Revises: 0004
Create Date: 2027-01-15

``enrollment_inputs``: a nullable blob, the inputs a modality scorer embedded for the profile's
last enrolled items (token sequences and/or item feature rows of the session contract: timings,
geometry and key classes, no characters), encrypted with AES-256-GCM under the profile key
(``biometrics.store.InputsCipher``), so that ``python -m serving.reembed`` can re-embed the
profile under a new bundle. ``other_versions``: a nullable blob of the vectors (and head state)
other model versions made of those inputs (``biometrics.profiles.versions_to_bytes``). Profiles
stored before this revision have neither: their next enrolled sessions start keeping inputs.
Downgrading drops both columns (the kept inputs are erased). Frozen: never change it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("modality_profiles") as batch:
        batch.add_column(sa.Column("enrollment_inputs", sa.LargeBinary(), nullable=True))
        batch.add_column(sa.Column("other_versions", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("modality_profiles") as batch:
        batch.drop_column("other_versions")
        batch.drop_column("enrollment_inputs")
