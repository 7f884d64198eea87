"""The API's resources as immutable values. JSON-shaped fields stay plain dicts: clients own their contents."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

JSON = dict[str, Any]


@dataclass(frozen=True)
class Application:
    id: str
    name: str
    public_key_pem: str
    created: str
    # The browser origins allowed to use this application (exact `scheme://host[:port]` or `*`); None: it has no
    # list of its own and the server's applies.
    origins: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Media:
    """One stored representation (original, medium or thumbnail) of an uploaded image."""

    application_id: str
    id: str
    image_id: str  # the upload it belongs to: its three representations share it
    kind: str  # ORIGINAL, MEDIUM or THUMBNAIL
    content_type: str
    data: bytes
    created: str
    created_by: str | None  # the uploading user; None for an admin token

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass(frozen=True)
class Device:
    """A user's device registered for push notifications (what the push sender needs to reach it)."""

    application_id: str
    id: str  # the client's device id (Android: from its login; iOS: identifierForVendor)
    user_id: str
    device_type: str  # android or ios
    token: str  # the push token (FCM registration token, APNs device token)
    created: str
    updated: str


@dataclass(frozen=True)
class User:
    application_id: str
    id: str
    name: str
    display_name: str | None
    image_url: str | None
    properties: JSON
    channels: JSON
    created: str
    updated: str | None
    seq: int = 0


@dataclass(frozen=True)
class UserRef:
    """The slice of a user that members and events embed."""

    id: str
    name: str
    display_name: str | None
    image_url: str | None
    custom_data: JSON = field(default_factory=dict)


class ConversationState(StrEnum):
    ACTIVE = "ACTIVE"
    INACTIVE = "INACTIVE"
    DELETED = "DELETED"


@dataclass(frozen=True)
class Conversation:
    application_id: str
    id: str
    name: str
    display_name: str | None
    image_url: str | None
    state: ConversationState
    properties: JSON
    callback: JSON | None
    last_event_id: int
    created: str
    updated: str | None
    seq: int = 0
    created_by: str | None = None  # the user whose token created it; None for an admin

    @property
    def sequence_number(self) -> int:
        return self.last_event_id


class MemberState(StrEnum):
    INVITED = "INVITED"
    JOINED = "JOINED"
    LEFT = "LEFT"


@dataclass(frozen=True)
class Member:
    application_id: str
    id: str
    conversation_id: str
    user_id: str
    state: MemberState
    channel: JSON
    media: JSON
    initiator: JSON
    invited_by: str | None
    knocking_id: str | None
    invited_at: str | None
    joined_at: str | None
    left_at: str | None
    left_reason: JSON | None
    # The last event this member may read once LEFT (history stops where the membership ended).
    left_event_id: int | None
    # Read and delivery horizons: every event up to this id counts as seen / delivered.
    seen_event_id: int
    delivered_event_id: int
    user: UserRef | None = None
    seq: int = 0


@dataclass(frozen=True)
class Event:
    conversation_id: str
    id: int
    type: str
    from_member: str | None
    to_member: str | None
    body: JSON
    timestamp: str
    deleted: str | None = None
    from_user: UserRef | None = None
    # Receipts of a text/image/message as the clients show them ({"seen_by": {member: ts}, ...}); filled only
    # by the reads that need it (EventService.history with receipts).
    state: JSON | None = None


@dataclass(frozen=True)
class Receipt:
    """One member's receipt of one event (first one wins): kind is seen, delivered, submitted, rejected or
    undeliverable."""

    event_id: int
    kind: str
    member_id: str
    timestamp: str


@dataclass(frozen=True)
class ReadState:
    """A member's horizons in a conversation and what it has not seen yet."""

    member_id: str
    seen_event_id: int
    delivered_event_id: int
    last_event_id: int
    unread_count: int
