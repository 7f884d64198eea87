"""The Store over SQL (SQLite or PostgreSQL through `Backend`)."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

from parley.domain.errors import DomainError, already_joined, duplicate_name, not_found
from parley.domain.models import Application, Conversation, Event, Member, MemberState, Receipt, User, UserRef
from parley.domain.paging import Scan
from parley.domain.ports import ConversationTx, EventFilter, NewEvent
from parley.store import rows
from parley.store.backend import Backend, Connection, UniqueViolation
from parley.store.devices import SQLDevices
from parley.store.media import SQLMedia
from parley.store.rows import (
    CONVERSATION_COLUMNS,
    EVENT_COLUMNS,
    EVENT_FROM,
    MEMBER_COLUMNS,
    MEMBER_FROM,
    USER_COLUMNS,
)

USER_WRITABLE = ("name", "display_name", "image_url", "properties", "channels")
USER_JSON = frozenset({"properties", "channels"})


def keyset(column: str, scan: Scan, where: list[str], args: list[Any]) -> str:
    """Add the scan's position to `where` and return the ORDER BY/LIMIT tail."""
    if scan.after is not None:
        where.append(f"{column} {'<' if scan.descending else '>'} ?")
        args.append(scan.after)
    args.append(scan.limit)
    return f" ORDER BY {column} {'DESC' if scan.descending else 'ASC'} LIMIT ?"


def created_between(where: list[str], args: list[Any], start: str | None, end: str | None) -> None:
    if start:
        where.append("c.created >= ?")
        args.append(start)
    if end:
        where.append("c.created <= ?")
        args.append(end)


class SQLConversationTx:
    def __init__(self, connection: Connection, conversation: Conversation, share: str) -> None:
        self._db = connection
        self._share = share
        self._snapshot = conversation
        self._last_event_id = conversation.last_event_id

    @property
    def conversation(self) -> Conversation:
        # Rebuilt only when read after an append: copying a frozen dataclass per event costs more than the SQL.
        if self._snapshot.last_event_id != self._last_event_id:
            self._snapshot = dataclasses.replace(self._snapshot, last_event_id=self._last_event_id)
        return self._snapshot

    async def member(self, member_id: str) -> Member | None:
        row = await self._db.fetchrow(
            f"SELECT {MEMBER_COLUMNS} FROM {MEMBER_FROM} WHERE m.id = ? AND m.conversation_id = ?",
            member_id, self._snapshot.id)
        return rows.member(row) if row else None

    async def live_member_of_user(self, user_id: str) -> Member | None:
        row = await self._db.fetchrow(
            f"SELECT {MEMBER_COLUMNS} FROM {MEMBER_FROM} WHERE m.conversation_id = ? AND m.user_id = ? "
            "AND m.state IN ('INVITED', 'JOINED')", self._snapshot.id, user_id)
        return rows.member(row) if row else None

    async def latest_member_of_user(self, user_id: str) -> Member | None:
        row = await self._db.fetchrow(
            f"SELECT {MEMBER_COLUMNS} FROM {MEMBER_FROM} WHERE m.conversation_id = ? AND m.user_id = ? "
            "ORDER BY m.seq DESC LIMIT 1", self._snapshot.id, user_id)
        return rows.member(row) if row else None

    async def user_is_live(self, user_id: str) -> bool:
        row = await self._db.fetchrow(
            f"SELECT 1 FROM users WHERE id = ? AND deleted IS NULL{self._share}", user_id)
        return row is not None

    async def count_live_members(self) -> int:
        row = await self._db.fetchrow(
            "SELECT COUNT(*) FROM members WHERE conversation_id = ? AND state IN ('INVITED', 'JOINED')",
            self._snapshot.id)
        return int(row[0]) if row else 0

    async def insert_member(self, member: Member) -> None:
        try:
            await self._db.execute(
                "INSERT INTO members (application_id, id, conversation_id, user_id, state, channel, media, "
                "initiator, invited_by, knocking_id, invited_at, joined_at, left_at, left_reason, left_event_id, "
                "seen_event_id, delivered_event_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                *rows.member_values(member))
        except UniqueViolation as exc:
            raise already_joined() from exc

    async def update_member(self, member: Member) -> None:
        await self._db.execute(
            "UPDATE members SET state = ?, initiator = ?, joined_at = ?, left_at = ?, left_reason = ?, "
            "left_event_id = ?, seen_event_id = ?, delivered_event_id = ? WHERE id = ?",
            member.state.value, rows.dumps(member.initiator), member.joined_at, member.left_at,
            None if member.left_reason is None else rows.dumps(member.left_reason), member.left_event_id,
            member.seen_event_id, member.delivered_event_id, member.id)

    async def append_event(self, event: NewEvent) -> Event:
        # The conversation is locked by this transaction, which read the last id after taking the lock.
        event_id = self._last_event_id + 1
        await self._db.execute(
            "INSERT INTO events (conversation_id, id, type, from_member, to_member, body, timestamp, "
            "idempotency_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            self._snapshot.id, event_id, event.type, event.from_member, event.to_member,
            rows.dumps(event.body), event.timestamp, event.idempotency_key)
        self._last_event_id = event_id
        sender = event.sender
        return Event(self._snapshot.id, event_id, event.type, event.from_member, event.to_member, event.body,
                     event.timestamp, from_user=sender.user if sender else None)

    async def _event_where(self, condition: str, value: Any) -> Event | None:
        row = await self._db.fetchrow(
            f"SELECT {EVENT_COLUMNS} FROM {EVENT_FROM} WHERE e.conversation_id = ? AND {condition}",
            self._snapshot.id, value)
        return rows.event(row) if row else None

    async def event_by_key(self, key: str) -> Event | None:
        return await self._event_where("e.idempotency_key = ?", key)

    async def event(self, event_id: int) -> Event | None:
        return await self._event_where("e.id = ?", event_id)

    async def mark_event_deleted(self, event_id: int, when: str) -> None:
        await self._db.execute("UPDATE events SET deleted = ? WHERE conversation_id = ? AND id = ?",
                               when, self._snapshot.id, event_id)

    async def add_receipt(self, receipt: Receipt) -> None:
        await self._db.execute(
            "INSERT INTO receipts (conversation_id, event_id, kind, member_id, timestamp) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT DO NOTHING",
            self._snapshot.id, receipt.event_id, receipt.kind, receipt.member_id, receipt.timestamp)

    async def update_conversation(self, conversation: Conversation) -> None:
        try:
            await self._db.execute(
                "UPDATE conversations SET name = ?, display_name = ?, image_url = ?, state = ?, properties = ?, "
                "callback = ?, updated = ? WHERE id = ?",
                conversation.name, conversation.display_name, conversation.image_url, conversation.state.value,
                rows.dumps(conversation.properties),
                None if conversation.callback is None else rows.dumps(conversation.callback),
                conversation.updated, conversation.id)
        except UniqueViolation as exc:
            raise duplicate_name("conversation") from exc
        self._snapshot = conversation

    async def delete_conversation(self, when: str) -> None:
        await self._db.execute("UPDATE conversations SET deleted = ?, state = 'DELETED' WHERE id = ?",
                               when, self._snapshot.id)


class SQLStore(SQLMedia, SQLDevices):
    def __init__(self, backend: Backend) -> None:
        self._backend = backend

    async def close(self) -> None:
        await self._backend.close()

    # -- applications ---------------------------------------------------------------------------------------
    async def insert_application(self, application: Application) -> None:
        async with self._backend.transaction() as db:
            try:
                await db.execute(
                    "INSERT INTO applications (id, name, public_key_pem, created, origins) VALUES (?, ?, ?, ?, ?)",
                    application.id, application.name, application.public_key_pem, application.created,
                    rows.origins_value(application.origins))
            except UniqueViolation as exc:
                raise DomainError("application:error:duplicate-id", "An application with this id exists.") from exc

    async def application(self, application_id: str) -> Application | None:
        row = await self._backend.read().fetchrow(
            f"SELECT {rows.APPLICATION_COLUMNS} FROM applications WHERE id = ?", application_id)
        return rows.application(row) if row else None

    async def applications(self) -> Sequence[Application]:
        found = await self._backend.read().fetch(
            f"SELECT {rows.APPLICATION_COLUMNS} FROM applications ORDER BY created, id")
        return [rows.application(row) for row in found]

    async def set_application_origins(self, application_id: str, origins: tuple[str, ...] | None) -> bool:
        async with self._backend.transaction() as db:
            return await db.execute("UPDATE applications SET origins = ? WHERE id = ?",
                                    rows.origins_value(origins), application_id) > 0

    async def delete_application(self, application_id: str) -> bool:
        async with self._backend.transaction() as db:
            return await db.execute("DELETE FROM applications WHERE id = ?", application_id) > 0

    # -- users ----------------------------------------------------------------------------------------------
    async def insert_user(self, user: User) -> User:
        async with self._backend.transaction() as db:
            try:
                await db.execute(
                    "INSERT INTO users (application_id, id, name, display_name, image_url, properties, channels, "
                    "created, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", *rows.user_values(user))
            except UniqueViolation as exc:
                raise duplicate_name("user") from exc
            row = await db.fetchrow(f"SELECT {USER_COLUMNS} FROM users u WHERE u.id = ?", user.id)
        assert row is not None
        return rows.user(row)

    async def _user_where(self, condition: str, *args: Any) -> User | None:
        row = await self._backend.read().fetchrow(
            f"SELECT {USER_COLUMNS} FROM users u WHERE u.application_id = ? AND {condition} AND u.deleted IS NULL",
            *args)
        return rows.user(row) if row else None

    async def user(self, application_id: str, user_id: str) -> User | None:
        return await self._user_where("u.id = ?", application_id, user_id)

    async def user_by_name(self, application_id: str, name: str) -> User | None:
        return await self._user_where("u.name = ?", application_id, name)

    async def update_user(
        self, application_id: str, user_id: str, fields: Mapping[str, Any], updated: str
    ) -> User | None:
        # Only the columns the request names: two concurrent PATCHes of different fields both land.
        columns = [c for c in USER_WRITABLE if c in fields]
        values = [rows.dumps(fields[c]) if c in USER_JSON else fields[c] for c in columns]
        assignments = "".join(f"{c} = ?, " for c in columns)
        async with self._backend.transaction() as db:
            try:
                changed = await db.execute(
                    f"UPDATE users SET {assignments}updated = ? WHERE application_id = ? AND id = ? "
                    "AND deleted IS NULL", *values, updated, application_id, user_id)
            except UniqueViolation as exc:
                raise duplicate_name("user") from exc
            if not changed:
                return None
            row = await db.fetchrow(f"SELECT {USER_COLUMNS} FROM users u WHERE u.id = ?", user_id)
        return rows.user(row) if row else None

    async def delete_user(self, application_id: str, user_id: str, when: str) -> bool:
        async with self._backend.transaction() as db:
            deleted = await db.execute(
                "UPDATE users SET deleted = ? WHERE application_id = ? AND id = ? AND deleted IS NULL",
                when, application_id, user_id)
        return deleted > 0

    async def users(self, application_id: str, scan: Scan, name: str | None) -> Sequence[User]:
        where, args = ["u.application_id = ?", "u.deleted IS NULL"], [application_id]
        if name is not None:
            where.append("u.name = ?")
            args.append(name)
        tail = keyset("u.seq", scan, where, args)
        found = await self._backend.read().fetch(
            f"SELECT {USER_COLUMNS} FROM users u WHERE {' AND '.join(where)}{tail}", *args)
        return [rows.user(row) for row in found]

    # -- conversations --------------------------------------------------------------------------------------
    async def insert_conversation(self, conversation: Conversation) -> Conversation:
        c = conversation
        async with self._backend.transaction() as db:
            try:
                await db.execute(
                    "INSERT INTO conversations (application_id, id, name, display_name, image_url, state, "
                    "properties, callback, created, updated, created_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    c.application_id, c.id, c.name, c.display_name, c.image_url, c.state.value,
                    rows.dumps(c.properties), None if c.callback is None else rows.dumps(c.callback),
                    c.created, c.updated, c.created_by)
            except UniqueViolation as exc:
                raise duplicate_name("conversation") from exc
            row = await db.fetchrow(f"SELECT {CONVERSATION_COLUMNS} FROM conversations c WHERE c.id = ?", c.id)
        assert row is not None
        return rows.conversation(row)

    async def conversation(self, application_id: str, conversation_id: str) -> Conversation | None:
        return await self._conversation_where("c.id = ?", application_id, conversation_id)

    async def conversation_by_name(self, application_id: str, name: str) -> Conversation | None:
        return await self._conversation_where("c.name = ?", application_id, name)

    async def _conversation_where(self, condition: str, application_id: str, value: str) -> Conversation | None:
        row = await self._backend.read().fetchrow(
            f"SELECT {CONVERSATION_COLUMNS} FROM conversations c "
            f"WHERE c.application_id = ? AND {condition} AND c.deleted IS NULL", application_id, value)
        return rows.conversation(row) if row else None

    async def conversations(
        self, application_id: str, scan: Scan, date_start: str | None, date_end: str | None
    ) -> Sequence[Conversation]:
        where, args = ["c.application_id = ?", "c.deleted IS NULL"], [application_id]
        created_between(where, args, date_start, date_end)
        tail = keyset("c.seq", scan, where, args)
        found = await self._backend.read().fetch(
            f"SELECT {CONVERSATION_COLUMNS} FROM conversations c WHERE {' AND '.join(where)}{tail}", *args)
        return [rows.conversation(row) for row in found]

    async def user_conversations(
        self, application_id: str, user_id: str, scan: Scan, state: MemberState | None, date_start: str | None,
        date_end: str | None = None,
    ) -> Sequence[tuple[Conversation, Member]]:
        # One row per conversation: the user's latest membership in it.
        where = ["m.application_id = ?", "m.user_id = ?", "c.deleted IS NULL",
                 "m.seq = (SELECT MAX(l.seq) FROM members l WHERE l.conversation_id = m.conversation_id "
                 "AND l.user_id = m.user_id)"]
        args: list[Any] = [application_id, user_id]
        if state is not None:
            where.append("m.state = ?")
            args.append(state.value)
        created_between(where, args, date_start, date_end)
        # keyed by the conversation, which never moves: a rejoin makes a new membership, not a new position
        tail = keyset("c.seq", scan, where, args)
        found = await self._backend.read().fetch(
            f"SELECT {MEMBER_COLUMNS}, {CONVERSATION_COLUMNS} FROM {MEMBER_FROM} "
            f"JOIN conversations c ON c.id = m.conversation_id WHERE {' AND '.join(where)}{tail}", *args)
        return [(rows.conversation(row, rows.MEMBER_WIDTH), rows.member(row)) for row in found]

    @asynccontextmanager
    async def conversation_tx(self, application_id: str, conversation_id: str) -> AsyncIterator[ConversationTx]:
        async with self._backend.transaction() as db:
            row = await db.fetchrow(
                f"SELECT {CONVERSATION_COLUMNS} FROM conversations c WHERE c.application_id = ? AND c.id = ? "
                f"AND c.deleted IS NULL{self._backend.for_update}", application_id, conversation_id)
            if row is None:
                raise not_found("conversation")
            conversation = rows.conversation(row)
            if self._backend.reread_after_lock:  # the last id as of now, with the lock held
                last = await db.fetchrow("SELECT COALESCE(MAX(id), 0) FROM events WHERE conversation_id = ?",
                                         conversation_id)
                if last is not None and last[0] != conversation.last_event_id:
                    conversation = dataclasses.replace(conversation, last_event_id=int(last[0]))
            yield SQLConversationTx(db, conversation, self._backend.for_share)

    # -- members --------------------------------------------------------------------------------------------
    async def member(self, application_id: str, conversation_id: str, member_id: str) -> Member | None:
        row = await self._backend.read().fetchrow(
            f"SELECT {MEMBER_COLUMNS} FROM {MEMBER_FROM} "
            "WHERE m.application_id = ? AND m.conversation_id = ? AND m.id = ?",
            application_id, conversation_id, member_id)
        return rows.member(row) if row else None

    async def latest_member_of_user(self, application_id: str, conversation_id: str, user_id: str) -> Member | None:
        row = await self._backend.read().fetchrow(
            f"SELECT {MEMBER_COLUMNS} FROM {MEMBER_FROM} WHERE m.application_id = ? AND m.conversation_id = ? "
            "AND m.user_id = ? ORDER BY m.seq DESC LIMIT 1", application_id, conversation_id, user_id)
        return rows.member(row) if row else None

    async def members(self, application_id: str, conversation_id: str, scan: Scan) -> Sequence[Member]:
        where, args = ["m.application_id = ?", "m.conversation_id = ?"], [application_id, conversation_id]
        tail = keyset("m.seq", scan, where, args)
        found = await self._backend.read().fetch(
            f"SELECT {MEMBER_COLUMNS} FROM {MEMBER_FROM} WHERE {' AND '.join(where)}{tail}", *args)
        return [rows.member(row) for row in found]

    # -- events ---------------------------------------------------------------------------------------------
    _EVENT_SCOPE = "e.conversation_id = (SELECT id FROM conversations WHERE application_id = ? AND id = ?)"

    async def event(self, application_id: str, conversation_id: str, event_id: int) -> Event | None:
        row = await self._backend.read().fetchrow(
            f"SELECT {EVENT_COLUMNS} FROM {EVENT_FROM} WHERE {self._EVENT_SCOPE} AND e.id = ?",
            application_id, conversation_id, event_id)
        return rows.event(row) if row else None

    async def events(
        self, application_id: str, conversation_id: str, scan: Scan, filter: EventFilter
    ) -> Sequence[Event]:
        where: list[str] = [self._EVENT_SCOPE]
        args: list[Any] = [application_id, conversation_id]
        for condition, value in (("e.id >= ?", filter.start_id), ("e.id <= ?", filter.end_id),
                                 ("e.id <= ?", filter.max_id)):
            if value is not None:
                where.append(condition)
                args.append(value)
        if filter.exclude_deleted:
            where.append("e.deleted IS NULL")
        alternatives: list[str] = []
        if filter.types:
            for event_type in filter.types:
                if event_type.endswith(":"):
                    alternatives.append("substr(e.type, 1, ?) = ?")
                    args.extend([len(event_type), event_type])
                else:
                    alternatives.append("e.type = ?")
                    args.append(event_type)
        if filter.message_types:
            message_type = self._backend.json_text("e.body", "message_type")
            alternatives.append(f"(e.type = 'message' AND {message_type} IN "
                                f"({', '.join('?' * len(filter.message_types))}))")
            args.extend(filter.message_types)
        if alternatives:
            where.append(f"({' OR '.join(alternatives)})")
        tail = keyset("e.id", scan, where, args)
        found = await self._backend.read().fetch(
            f"SELECT {EVENT_COLUMNS} FROM {EVENT_FROM} WHERE {' AND '.join(where)}{tail}", *args)
        senders: dict[str, UserRef | None] = {}
        return [rows.event(row, senders) for row in found]

    async def receipts(
        self, application_id: str, conversation_id: str, event_ids: Sequence[int]
    ) -> Sequence[Receipt]:
        if not event_ids:
            return []
        marks = ", ".join("?" * len(event_ids))
        found = await self._backend.read().fetch(
            "SELECT r.event_id, r.kind, r.member_id, r.timestamp FROM receipts r "
            "WHERE r.conversation_id = (SELECT id FROM conversations WHERE application_id = ? AND id = ?) "
            f"AND r.event_id IN ({marks}) ORDER BY r.event_id, r.timestamp",
            application_id, conversation_id, *event_ids)
        return [Receipt(int(row[0]), row[1], row[2], row[3]) for row in found]

    async def count_unread(
        self, application_id: str, conversation_id: str, user_id: str, after_id: int, up_to_id: int | None,
        types: Sequence[str],
    ) -> int:
        where = [self._EVENT_SCOPE, "e.id > ?", "e.deleted IS NULL",
                 f"e.type IN ({', '.join('?' * len(types))})",
                 "(e.from_member IS NULL OR e.from_member NOT IN "
                 "(SELECT id FROM members WHERE conversation_id = ? AND user_id = ?))"]
        args: list[Any] = [application_id, conversation_id, after_id, *types, conversation_id, user_id]
        if up_to_id is not None:
            where.append("e.id <= ?")
            args.append(up_to_id)
        row = await self._backend.read().fetchrow(f"SELECT COUNT(*) FROM events e WHERE {' AND '.join(where)}",
                                                  *args)
        return int(row[0]) if row else 0
