"""Uploaded images (`media`: the bytes in the database, so any host of a scaled-out deployment serves them) and
push registration (`devices`, `push_subscriptions`).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def _application() -> sa.Column:  # type: ignore[type-arg]
    return sa.Column("application_id", sa.Text, sa.ForeignKey("applications.id", ondelete="CASCADE"),
                     nullable=False)


def upgrade() -> None:
    op.create_table(
        "media",
        _application(),
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("image_id", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("content_type", sa.Text, nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),  # BLOB on SQLite, bytea on PostgreSQL
        sa.Column("created", sa.Text, nullable=False),
        sa.Column("created_by", sa.Text),  # the uploading user's id; NULL for an admin token
    )
    op.create_index("media_by_image", "media", ["application_id", "image_id"])

    op.create_table(
        "devices",
        _application(),
        sa.Column("id", sa.Text, nullable=False),
        sa.Column("user_id", sa.Text, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("device_type", sa.Text, nullable=False),
        sa.Column("token", sa.Text, nullable=False),
        sa.Column("created", sa.Text, nullable=False),
        sa.Column("updated", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("application_id", "id"),
    )
    op.create_index("devices_by_user", "devices", ["application_id", "user_id"])
    op.create_index("devices_by_token", "devices", ["application_id", "token"])

    op.create_table(
        "push_subscriptions",
        _application(),
        sa.Column("user_id", sa.Text, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("conversation_id", sa.Text, sa.ForeignKey("conversations.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("subscribed", sa.Boolean, nullable=False),
        sa.Column("updated", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("user_id", "conversation_id"),
    )


def downgrade() -> None:
    op.drop_table("push_subscriptions")
    op.drop_table("devices")
    op.drop_table("media")
