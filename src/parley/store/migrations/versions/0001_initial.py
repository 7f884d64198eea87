"""The Conversation API v1 schema: applications, users, conversations, members, events.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# A 64-bit key that is SQLite's rowid (INTEGER PRIMARY KEY) and a PostgreSQL identity column.
Seq = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
LIVE = sa.text("state IN ('INVITED', 'JOINED')")


def _seq() -> sa.Column:  # type: ignore[type-arg]
    return sa.Column("seq", Seq, primary_key=True, autoincrement=True)


def upgrade() -> None:
    op.create_table(
        "applications",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("public_key_pem", sa.Text, nullable=False),
        sa.Column("config", sa.Text, nullable=False, server_default="{}"),
        sa.Column("created", sa.Text, nullable=False),
    )
    op.create_table(
        "users",
        _seq(),
        sa.Column("application_id", sa.Text, sa.ForeignKey("applications.id", ondelete="CASCADE"), nullable=False),
        sa.Column("id", sa.Text, nullable=False, unique=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("display_name", sa.Text),
        sa.Column("image_url", sa.Text),
        sa.Column("properties", sa.Text, nullable=False, server_default="{}"),
        sa.Column("channels", sa.Text, nullable=False, server_default="{}"),
        sa.Column("created", sa.Text, nullable=False),
        sa.Column("updated", sa.Text),
        sa.Column("deleted", sa.Text),
    )
    _live_unique("users_name", "users", ["application_id", "name"], sa.text("deleted IS NULL"))
    op.create_index("users_by_application", "users", ["application_id", "seq"])

    op.create_table(
        "conversations",
        _seq(),
        sa.Column("application_id", sa.Text, sa.ForeignKey("applications.id", ondelete="CASCADE"), nullable=False),
        sa.Column("id", sa.Text, nullable=False, unique=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("display_name", sa.Text),
        sa.Column("image_url", sa.Text),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("properties", sa.Text, nullable=False, server_default="{}"),
        sa.Column("callback", sa.Text),
        sa.Column("last_event_id", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("created", sa.Text, nullable=False),
        sa.Column("updated", sa.Text),
        sa.Column("deleted", sa.Text),
    )
    _live_unique("conversations_name", "conversations", ["application_id", "name"], sa.text("deleted IS NULL"))
    op.create_index("conversations_by_application", "conversations", ["application_id", "seq"])

    op.create_table(
        "members",
        _seq(),
        sa.Column("application_id", sa.Text, sa.ForeignKey("applications.id", ondelete="CASCADE"), nullable=False),
        sa.Column("id", sa.Text, nullable=False, unique=True),
        sa.Column("conversation_id", sa.Text, sa.ForeignKey("conversations.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("user_id", sa.Text, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("channel", sa.Text, nullable=False, server_default="{}"),
        sa.Column("media", sa.Text, nullable=False, server_default="{}"),
        sa.Column("initiator", sa.Text, nullable=False, server_default="{}"),
        sa.Column("invited_by", sa.Text),
        sa.Column("knocking_id", sa.Text),
        sa.Column("invited_at", sa.Text),
        sa.Column("joined_at", sa.Text),
        sa.Column("left_at", sa.Text),
        sa.Column("left_reason", sa.Text),
        sa.Column("left_event_id", sa.BigInteger),
        sa.Column("seen_event_id", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("delivered_event_id", sa.BigInteger, nullable=False, server_default="0"),
    )
    # At most one live membership per user and conversation: racing joins cannot both win.
    _live_unique("members_live_user", "members", ["conversation_id", "user_id"], LIVE)
    op.create_index("members_by_conversation", "members", ["conversation_id", "seq"])
    op.create_index("members_by_user", "members", ["user_id", "seq"])

    op.create_table(
        "events",
        sa.Column("conversation_id", sa.Text, sa.ForeignKey("conversations.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("type", sa.Text, nullable=False),
        sa.Column("from_member", sa.Text),
        sa.Column("to_member", sa.Text),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("timestamp", sa.Text, nullable=False),
        sa.Column("deleted", sa.Text),
        sa.Column("idempotency_key", sa.Text),
    )
    _live_unique("events_idempotency", "events", ["conversation_id", "idempotency_key"],
                 sa.text("idempotency_key IS NOT NULL"))


def _live_unique(name: str, table: str, columns: list[str], where: sa.TextClause) -> None:
    op.create_index(name, table, columns, unique=True, sqlite_where=where, postgresql_where=where)


def downgrade() -> None:
    for table in ("events", "members", "conversations", "users", "applications"):
        op.drop_table(table)
