"""Row <-> model mapping. Column lists and converters live together so a query and its reader cannot drift."""

from __future__ import annotations

from typing import Any

import orjson

from parley.domain.models import (
    JSON,
    Application,
    Conversation,
    ConversationState,
    Event,
    Member,
    MemberState,
    User,
    UserRef,
)
from parley.store.backend import Row


def dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def loads(text: str | None) -> Any:
    return None if text is None else orjson.loads(text)


def loads_object(text: str | None) -> JSON:
    value = loads(text)
    return value if isinstance(value, dict) else {}


APPLICATION_COLUMNS = "id, name, public_key_pem, created, origins"


def application(row: Row) -> Application:
    origins = loads(row[4])
    return Application(id=row[0], name=row[1], public_key_pem=row[2], created=row[3],
                       origins=None if origins is None else tuple(origins))


def origins_value(origins: tuple[str, ...] | None) -> str | None:
    return None if origins is None else dumps(list(origins))


USER_COLUMNS = "u.seq, u.application_id, u.id, u.name, u.display_name, u.image_url, u.properties, u.channels, " \
    "u.created, u.updated"


def user(row: Row, offset: int = 0) -> User:
    r = row[offset:]
    return User(seq=r[0], application_id=r[1], id=r[2], name=r[3], display_name=r[4], image_url=r[5],
                properties=loads_object(r[6]), channels=loads_object(r[7]), created=r[8], updated=r[9])


def user_values(u: User) -> tuple[Any, ...]:
    return (u.application_id, u.id, u.name, u.display_name, u.image_url, dumps(u.properties), dumps(u.channels),
            u.created, u.updated)


# The last event id is derived (MAX over the events primary key: one index seek), not stored: see migration 0002.
LAST_EVENT_ID = "(SELECT COALESCE(MAX(le.id), 0) FROM events le WHERE le.conversation_id = c.id)"
CONVERSATION_COLUMNS = "c.seq, c.application_id, c.id, c.name, c.display_name, c.image_url, c.state, " \
    f"c.properties, c.callback, {LAST_EVENT_ID}, c.created, c.updated, c.created_by"


def conversation(row: Row, offset: int = 0) -> Conversation:
    r = row[offset:]
    return Conversation(seq=r[0], application_id=r[1], id=r[2], name=r[3], display_name=r[4], image_url=r[5],
                        state=ConversationState(r[6]), properties=loads_object(r[7]), callback=loads(r[8]),
                        last_event_id=r[9], created=r[10], updated=r[11], created_by=r[12])


MEMBER_COLUMNS = "m.seq, m.application_id, m.id, m.conversation_id, m.user_id, m.state, m.channel, m.media, " \
    "m.initiator, m.invited_by, m.knocking_id, m.invited_at, m.joined_at, m.left_at, m.left_reason, " \
    "m.left_event_id, m.seen_event_id, m.delivered_event_id, u.id, u.name, u.display_name, u.image_url, " \
    "u.properties"
MEMBER_FROM = "members m JOIN users u ON u.id = m.user_id"


def _user_ref(r: Row) -> UserRef | None:
    if r[0] is None:
        return None
    custom = loads_object(r[4]).get("custom_data")
    return UserRef(id=r[0], name=r[1], display_name=r[2], image_url=r[3],
                   custom_data=custom if isinstance(custom, dict) else {})


def member(row: Row, offset: int = 0) -> Member:
    r = row[offset:]
    return Member(seq=r[0], application_id=r[1], id=r[2], conversation_id=r[3], user_id=r[4],
                  state=MemberState(r[5]), channel=loads_object(r[6]), media=loads_object(r[7]),
                  initiator=loads_object(r[8]), invited_by=r[9], knocking_id=r[10], invited_at=r[11],
                  joined_at=r[12], left_at=r[13], left_reason=loads(r[14]), left_event_id=r[15],
                  seen_event_id=r[16], delivered_event_id=r[17], user=_user_ref(r[18:23]))


MEMBER_WIDTH = 23


def member_values(m: Member) -> tuple[Any, ...]:
    return (m.application_id, m.id, m.conversation_id, m.user_id, m.state.value, dumps(m.channel), dumps(m.media),
            dumps(m.initiator), m.invited_by, m.knocking_id, m.invited_at, m.joined_at, m.left_at,
            None if m.left_reason is None else dumps(m.left_reason), m.left_event_id, m.seen_event_id,
            m.delivered_event_id)


EVENT_COLUMNS = "e.conversation_id, e.id, e.type, e.from_member, e.to_member, e.body, e.timestamp, e.deleted, " \
    "u.id, u.name, u.display_name, u.image_url, u.properties"
EVENT_FROM = "events e LEFT JOIN members fm ON fm.id = e.from_member LEFT JOIN users u ON u.id = fm.user_id"


def event(row: Row, senders: dict[str, UserRef | None] | None = None) -> Event:
    """An event row. `senders` memoises sender users across the rows of one page: a page has few senders."""
    deleted = row[7]
    sender_id = row[8]
    if senders is None:
        from_user = _user_ref(row[8:13])
    elif sender_id in senders:
        from_user = senders[sender_id]
    else:
        from_user = senders[sender_id] = _user_ref(row[8:13])
    return Event(conversation_id=row[0], id=row[1], type=row[2], from_member=row[3], to_member=row[4],
                 body={} if deleted else loads_object(row[5]), timestamp=row[6], deleted=deleted,
                 from_user=from_user)
