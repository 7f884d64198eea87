"""An index for "this user's memberships in this conversation", asked on every read of a conversation by a user
token and for every row of a user's conversation list (without it, a user with thousands of memberships made
each such lookup scan all of them).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("members_by_conversation_user", "members", ["conversation_id", "user_id", "seq"])


def downgrade() -> None:
    op.drop_index("members_by_conversation_user", "members")
