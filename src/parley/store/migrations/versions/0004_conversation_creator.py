"""Who created a conversation (with a user token): that user may read it before joining it, as the In-App
Messaging clients do right after `new:conversation`.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.add_column(sa.Column("created_by", sa.Text))


def downgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.drop_column("created_by")
