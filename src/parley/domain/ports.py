"""The interfaces the domain needs from the outside world. Adapters in `store/` (and later `bus/`) implement them.

Semantics every implementation must keep (the contract suite in tests/contract checks them):
- Every read and write is scoped by application id: no call ever sees another application's rows.
- `Store.conversation_tx` serialises writers of one conversation; event ids are allocated inside it, so ids are
  1, 2, 3 ... per conversation and commit in that order.
- List calls take a `Scan` (keyset position) and return rows in scan order, at most `scan.limit` of them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from parley.domain.models import (
    JSON,
    Application,
    Conversation,
    Device,
    Event,
    Media,
    Member,
    MemberState,
    Receipt,
    User,
)
from parley.domain.paging import Scan


@dataclass(frozen=True)
class EventFilter:
    start_id: int | None = None
    end_id: int | None = None
    types: tuple[str, ...] = ()  # exact types, or prefixes ending in ':' (from `member:*`)
    message_types: tuple[str, ...] = ()  # also `message` events whose `body.message_type` is one of these
    exclude_deleted: bool = False
    max_id: int | None = None  # readers whose membership ended see history up to here


@dataclass(frozen=True)
class NewEvent:
    type: str
    sender: Member | None  # the member the event is `from`; None for a system event
    to_member: str | None
    body: JSON
    timestamp: str
    idempotency_key: str | None = None

    @property
    def from_member(self) -> str | None:
        return self.sender.id if self.sender else None


class MediaStore(Protocol):
    """Uploaded images: the bytes live in the database, so every host of a scaled-out deployment serves them."""

    async def insert_media(self, items: Sequence[Media]) -> None:
        """All representations of one image, in one transaction."""
    async def media(self, application_id: str, media_id: str) -> Media | None: ...
    async def delete_image(self, application_id: str, image_id: str) -> int:
        """Every representation of the image; how many were deleted."""


class DeviceStore(Protocol):
    """Push devices and per-conversation push preferences (the push sender reads them)."""

    async def save_device(self, device: Device, max_per_user: int) -> None:
        """Insert or update the device by (application, id): a device belongs to one user at a time, and its push
        token to one device. Refuses with `device:error:max-device-limit` a user's device beyond `max_per_user`."""
    async def device(self, application_id: str, device_id: str) -> Device | None: ...
    async def devices_of_user(self, application_id: str, user_id: str) -> Sequence[Device]: ...
    async def delete_device(self, application_id: str, device_id: str) -> bool: ...
    async def set_push_subscription(
        self, application_id: str, user_id: str, conversation_id: str, subscribed: bool, when: str
    ) -> None: ...
    async def push_subscriptions(self, application_id: str, user_id: str) -> Mapping[str, bool]:
        """conversation id -> subscribed, for the conversations the user said something about."""


class ConversationTx(Protocol):
    """One write transaction on one conversation, which is locked for its duration."""

    @property
    def conversation(self) -> Conversation:
        """The conversation as this transaction has made it so far (`last_event_id` included)."""

    async def member(self, member_id: str) -> Member | None: ...
    async def live_member_of_user(self, user_id: str) -> Member | None: ...
    async def latest_member_of_user(self, user_id: str) -> Member | None:
        """The user's newest membership of the conversation, whatever its state."""
    async def user_is_live(self, user_id: str) -> bool:
        """Whether the user exists and is not deleted; holds the user's row until the transaction ends, so a
        concurrent user delete waits for this transaction (and then ends what it created)."""
    async def count_live_members(self) -> int: ...
    async def insert_member(self, member: Member) -> None: ...
    async def update_member(self, member: Member) -> None: ...
    async def append_event(self, event: NewEvent) -> Event: ...
    async def event_by_key(self, key: str) -> Event | None: ...
    async def event(self, event_id: int) -> Event | None: ...
    async def mark_event_deleted(self, event_id: int, when: str) -> None: ...
    async def add_receipt(self, receipt: Receipt) -> None:
        """Record a receipt unless the member already has one of that kind for that event."""
    async def update_conversation(self, conversation: Conversation) -> None: ...
    async def delete_conversation(self, when: str) -> None: ...


class Store(MediaStore, DeviceStore, Protocol):
    async def close(self) -> None: ...

    # applications (tenants)
    async def insert_application(self, application: Application) -> None: ...
    async def application(self, application_id: str) -> Application | None: ...
    async def applications(self) -> Sequence[Application]: ...
    async def set_application_origins(self, application_id: str, origins: tuple[str, ...] | None) -> bool:
        """Replace the application's own allowed origins (None: none of its own); False if there is no such
        application."""
    async def delete_application(self, application_id: str) -> bool: ...

    # users
    async def insert_user(self, user: User) -> User: ...
    async def user(self, application_id: str, user_id: str) -> User | None: ...
    async def user_by_name(self, application_id: str, name: str) -> User | None: ...
    async def update_user(
        self, application_id: str, user_id: str, fields: Mapping[str, Any], updated: str
    ) -> User | None:
        """Change the named fields (and `updated`) of a live user; None when there is none."""
    async def delete_user(self, application_id: str, user_id: str, when: str) -> bool: ...
    async def users(self, application_id: str, scan: Scan, name: str | None) -> Sequence[User]: ...

    # conversations
    async def insert_conversation(self, conversation: Conversation) -> Conversation: ...
    async def conversation(self, application_id: str, conversation_id: str) -> Conversation | None: ...
    async def conversation_by_name(self, application_id: str, name: str) -> Conversation | None: ...
    async def conversations(
        self, application_id: str, scan: Scan, date_start: str | None, date_end: str | None
    ) -> Sequence[Conversation]: ...
    async def user_conversations(
        self, application_id: str, user_id: str, scan: Scan, state: MemberState | None, date_start: str | None,
        date_end: str | None = None,
    ) -> Sequence[tuple[Conversation, Member]]: ...
    def conversation_tx(
        self, application_id: str, conversation_id: str
    ) -> AbstractAsyncContextManager[ConversationTx]: ...

    # members
    async def member(self, application_id: str, conversation_id: str, member_id: str) -> Member | None: ...
    async def latest_member_of_user(
        self, application_id: str, conversation_id: str, user_id: str
    ) -> Member | None: ...
    async def members(self, application_id: str, conversation_id: str, scan: Scan) -> Sequence[Member]: ...

    # events
    async def event(self, application_id: str, conversation_id: str, event_id: int) -> Event | None: ...
    async def events(
        self, application_id: str, conversation_id: str, scan: Scan, filter: EventFilter
    ) -> Sequence[Event]: ...
    async def receipts(
        self, application_id: str, conversation_id: str, event_ids: Sequence[int]
    ) -> Sequence[Receipt]: ...
    async def count_unread(
        self, application_id: str, conversation_id: str, user_id: str, after_id: int, up_to_id: int | None,
        types: Sequence[str],
    ) -> int:
        """Events of `types` with ids in (after_id, up_to_id], not deleted and not sent by any membership of
        `user_id`."""


class EventSink(Protocol):
    """Told about events after their transaction committed, and about ephemeral events (id 0, never stored) as
    they happen: the real-time hub and the workers hang off this."""

    async def committed(self, application_id: str, events: Sequence[Event]) -> None: ...


class NoSink:
    async def committed(self, application_id: str, events: Sequence[Event]) -> None:
        return None
