"""An application's own allowed browser origins (`parley app create --origin`, `parley app origins`): a JSON array
of exact origins or `*`; NULL means it has no list of its own and the server's (PARLEY_CORS_ORIGINS) applies.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("applications") as batch:
        batch.add_column(sa.Column("origins", sa.Text))


def downgrade() -> None:
    with op.batch_alter_table("applications") as batch:
        batch.drop_column("origins")
