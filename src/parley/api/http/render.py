"""Resources as the v1 API shows them (field names, `_embedded`, `_links`)."""

from __future__ import annotations

from typing import Any

from parley.domain.models import Conversation, Event, Member, User, UserRef
from parley.realtime.sessions import LiveSession


def _drop_none(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if v is not None}


def user(base: str, u: User) -> dict[str, Any]:
    return _drop_none({
        "id": u.id,
        "name": u.name,
        "display_name": u.display_name,
        "image_url": u.image_url,
        "properties": u.properties or {"custom_data": {}},
        "channels": u.channels,
        "timestamp": _drop_none({"created": u.created, "updated": u.updated}),
        "_links": {"self": {"href": f"{base}/v1/users/{u.id}"}},
    })


def user_lite(base: str, u: User) -> dict[str, Any]:
    return _drop_none({"id": u.id, "name": u.name, "display_name": u.display_name,
                       "_links": {"self": {"href": f"{base}/v1/users/{u.id}"}}})


def embedded_user(base: str, ref: UserRef | None, user_id: str) -> dict[str, Any]:
    if ref is None:  # a deleted user still has an id; clients need the object to exist
        return {"id": user_id, "name": None, "_links": {"self": {"href": f"{base}/v1/users/{user_id}"}}}
    return _drop_none({"id": ref.id, "name": ref.name, "display_name": ref.display_name,
                       "image_url": ref.image_url, "_links": {"self": {"href": f"{base}/v1/users/{ref.id}"}}})


def conversation(base: str, c: Conversation) -> dict[str, Any]:
    return _drop_none({
        "id": c.id,
        "name": c.name,
        "display_name": c.display_name,
        "image_url": c.image_url,
        "state": c.state.value,
        "sequence_number": c.sequence_number,
        "timestamp": _drop_none({"created": c.created, "updated": c.updated}),
        "properties": c.properties,
        "_links": {"self": {"href": f"{base}/v1/conversations/{c.id}"}},
    })


def conversation_lite(base: str, c: Conversation, custom_data: bool = False) -> dict[str, Any]:
    lite = _drop_none({
        "id": c.id, "name": c.name, "display_name": c.display_name, "image_url": c.image_url,
        "timestamp": _drop_none({"created": c.created, "updated": c.updated}),
        "_links": {"self": {"href": f"{base}/v1/conversations/{c.id}"}},
    })
    if custom_data:
        lite["properties"] = {"custom_data": c.properties.get("custom_data", {})}
    return lite


def user_conversation(base: str, c: Conversation, m: Member, custom_data: bool = False,
                      nested: bool = False) -> dict[str, Any]:
    """A conversation as one user sees it: with its membership (`nested`: as `_embedded.member`, what the v0.3
    clients read); `custom_data` only when asked for."""
    full = conversation(base, c)
    if not custom_data:
        full["properties"] = {k: v for k, v in c.properties.items() if k != "custom_data"}
    membership = {"id": m.id, "state": m.state.value}
    return {**full, "_embedded": {"member": membership} if nested else membership}


def member(base: str, m: Member) -> dict[str, Any]:
    timestamp = _drop_none({"invited": m.invited_at, "joined": m.joined_at, "left": m.left_at})
    return _drop_none({
        "id": m.id,
        "conversation_id": m.conversation_id,
        "_embedded": {"user": embedded_user(base, m.user, m.user_id)},
        "state": m.state.value,
        "timestamp": timestamp,
        "initiator": m.initiator,
        "channel": m.channel,
        "media": m.media,
        "knocking_id": m.knocking_id,
        "invited_by": m.invited_by,
        "reason": m.left_reason,
        "_links": {"href": f"{base}/v1/conversations/{m.conversation_id}/members/{m.id}"},
    })


def member_lite(base: str, m: Member) -> dict[str, Any]:
    return {
        "id": m.id,
        "state": m.state.value,
        "_embedded": {"user": embedded_user(base, m.user, m.user_id)},
        "_links": {"href": f"{base}/v1/conversations/{m.conversation_id}/members/{m.id}"},
    }


def event(base: str, e: Event) -> dict[str, Any]:
    data = event_fields(e)
    if e.id:
        data["_links"] = {"self": {"href": f"{base}/v1/conversations/{e.conversation_id}/events/{e.id}"}}
    return data


def event_fields(e: Event) -> dict[str, Any]:
    """An event without links: what the REST resource and the `/v2/rtc` socket push share."""
    data: dict[str, Any] = {"id": e.id, "type": e.type}
    if e.from_member:
        data["from"] = e.from_member
    if e.to_member:
        data["to"] = e.to_member
    data["body"] = e.body
    data["timestamp"] = e.timestamp
    if e.deleted:
        data["deleted"] = e.deleted
    if e.state is not None:  # receipts of a message, when the read asked for them
        data["state"] = e.state
    if e.from_member:
        embedded: dict[str, Any] = {"from_member": {"id": e.from_member}}
        if e.from_user is not None:
            embedded["from_user"] = _drop_none({
                "id": e.from_user.id, "name": e.from_user.name, "display_name": e.from_user.display_name,
                "image_url": e.from_user.image_url, "custom_data": e.from_user.custom_data})
        data["_embedded"] = embedded
    return data


def session(s: LiveSession, now: float) -> dict[str, Any]:
    """A client session as the v1 sessions list shows it; `ttl` is the seconds its token has left."""
    return {"id": s.id, "_embedded": {"user": {"id": s.user_id, "name": s.user_name}, "api_key": s.application_id},
            "properties": {"ttl": max(0, int(s.expires - now))}}
