"""Resources as the In-App Messaging era showed them, shared by its two transports: the socket-RPC dialect of
`/rtc` (nexmo-client <= 4.x) and the `/beta` / `/beta2` REST families (nexmo-client 6.x-9.x).

Both read the same objects: members with `member_id` and a `timestamp` object, conversations with their
members inline, a user's conversations with the caller's `member_id` and `state`, and events with `cid`,
integer ids and, for `member:*`, `from` naming the member whose state changes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from parley.api.dialect_map import as_legacy
from parley.domain.conversations import ConversationService
from parley.domain.events import EventService
from parley.domain.members import MemberService
from parley.domain.models import Conversation, Event, Member
from parley.domain.paging import Page, PageRequest
from parley.domain.push import PushService
from parley.domain.users import UserService

T = TypeVar("T")


@dataclass(frozen=True)
class Services:
    """The domain services both transports call."""

    conversations: ConversationService
    members: MemberService
    events: EventService
    users: UserService
    push: PushService


async def every_page(fetch: Callable[[PageRequest], Awaitable[Page[T]]], first: PageRequest) -> list[T]:
    """All items of a paged listing, for the answers that are whole arrays."""
    items: list[T] = []
    request: PageRequest | None = first
    while request is not None:
        page = await fetch(request)
        items.extend(page.items)
        request = page.next
    return items


def member(m: Member) -> dict[str, Any]:
    """Every member needs a `timestamp` object: the clients run `member.timestamp.<state> = ...` on member
    events (reference §1.4)."""
    user = m.user
    timestamp = {k: v for k, v in (("invited", m.invited_at), ("joined", m.joined_at), ("left", m.left_at)) if v}
    return {"id": m.id, "member_id": m.id, "user_id": m.user_id,
            "name": user.name if user else None, "display_name": user.display_name if user else None,
            "state": m.state.value, "timestamp": timestamp, "channel": m.channel,
            "initiator": m.initiator, "invited_by": m.invited_by}


def conversation(c: Conversation, members: list[Member]) -> dict[str, Any]:
    """A conversation with its members inline (`conversation:get`, `GET /beta/conversations/{id}`)."""
    return {"id": c.id, "name": c.name, "display_name": c.display_name,
            "timestamp": {"created": c.created}, "sequence_number": c.sequence_number,
            "properties": c.properties, "members": [member(m) for m in members]}


def user_conversation(c: Conversation, m: Member) -> dict[str, Any]:
    """One of a user's conversations: the clients build their own member (`me`) from `member_id` and `state`."""
    return {"id": c.id, "name": c.name, "display_name": c.display_name, "member_id": m.id,
            "state": m.state.value, "timestamp": {"created": c.created}, "sequence_number": c.sequence_number}


def event(stored: Event) -> dict[str, Any]:
    """An event under its In-App Messaging name (`dialect_map`: a `message` text is a `text` here), with `cid`
    (the clients route by it) and its integer id. Ephemeral events (typing) have none and carry no `id` at all:
    nexmo-client 9.x queues every event with a numeric id in id order, and would hold back or drop one
    numbered 0."""
    e = as_legacy(stored)
    payload: dict[str, Any] = {"type": e.type, "cid": e.conversation_id, "body": e.body, "timestamp": e.timestamp}
    if e.id:
        payload = {"id": e.id, **payload}
    if e.state is not None:  # receipt maps, where the reader asked for them (`EventService.history(receipts=True)`)
        payload["state"] = e.state
    sender = e.from_member
    if e.type.startswith("member:"):
        # nexmo-conversation 0.1.x copies every key of a member event's body onto its Member object, so a
        # `conversation` key would replace the member's link to its Conversation (and crash the next event);
        # the later SDKs skip that key and none reads it.
        payload["body"] = {k: v for k, v in e.body.items() if k != "conversation"}
        if isinstance(e.body.get("member_id"), str):
            # A member event is `from` the member whose state it changes (the clients apply it to
            # `members.get(event.from)`), not from whoever acted.
            sender = e.body["member_id"]
    if sender:
        payload["from"] = sender
    if e.to_member:
        payload["to"] = e.to_member
    return payload


def event_with_sender(stored: Event) -> dict[str, Any]:
    """`event` plus `_embedded.from_member` / `from_user` naming its `from`, as nexmo-client 9.x reads them:
    the sender's name for its listeners, and for `member:*` (whose `from` is the member the event is about)
    whether the event is about the client's own user."""
    payload = event(stored)
    sender = payload.get("from")
    if sender is None:
        return payload
    user: dict[str, Any] | None = None
    about = stored.body.get("user")
    if stored.type.startswith("member:") and isinstance(about, dict):
        user = {k: about.get(k) for k in ("id", "name", "display_name", "image_url")}
    elif stored.from_user is not None:
        ref = stored.from_user
        user = {"id": ref.id, "name": ref.name, "display_name": ref.display_name, "image_url": ref.image_url}
    embedded: dict[str, Any] = {"from_member": {"id": sender}}
    if user is not None:
        embedded["from_user"] = {k: v for k, v in user.items() if v is not None}
    return {**payload, "_embedded": embedded}
