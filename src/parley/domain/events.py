"""Events: the conversation's history. Text and the other creatable types, receipts, deletes.

Ids are allocated by the store inside the writing transaction. A client-supplied idempotency key is recorded
in that same transaction, so a retried request returns the original event instead of a second one.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from parley.domain.access import history_limit, readable_conversation, require_joined, require_writable
from parley.domain.clock import Clock, iso
from parley.domain.errors import DomainError, forbidden, invalid, not_found
from parley.domain.limits import Limits
from parley.domain.models import JSON, Conversation, Event, Member, MemberState, ReadState, Receipt
from parley.domain.paging import Page, PageRequest, paginate
from parley.domain.ports import ConversationTx, EventFilter, EventSink, NewEvent, Store
from parley.domain.principal import Principal
from parley.domain.validate import body_object, event_id_value, json_size, optional_object, optional_str

RECEIPT_TYPES = frozenset({
    "message:seen", "message:delivered", "message:submitted", "message:rejected", "message:undeliverable",
    "text:seen", "text:delivered", "image:seen", "image:delivered", "event:seen", "event:delivered",
})
AUDIO_TYPES = frozenset({
    "audio:play", "audio:play:stop", "audio:say", "audio:say:stop", "audio:dtmf", "audio:record",
    "audio:record:stop", "audio:mute:on", "audio:mute:off", "audio:earmuff:on", "audio:earmuff:off",
    "audio:speaking:on", "audio:speaking:off",
})
CONTENT_TYPES = frozenset({"message", "text", "image"})
EPHEMERAL_TYPES = frozenset({"ephemeral", "text:typing:on", "text:typing:off"})
UNREAD_TYPES = tuple(sorted(CONTENT_TYPES))  # what an unread count counts
DELETABLE_TYPES = frozenset({"message", "text", "image"})
RECEIPT_FIELDS = {"seen": "seen_by", "delivered": "delivered_to", "submitted": "submitted_to",
                  "rejected": "rejected_by", "undeliverable": "undeliverable_to"}
MESSAGE_TYPES = ("text", "image", "audio", "video", "file", "vcard", "location", "template", "custom", "random")
# `filter_group_type=ChatEvents` (what @vonage/client-sdk lists history with): the conversation's content and
# membership, without receipts, which that client cannot parse in a listing (their effect is the messages' state).
CHAT_EVENT_TYPES = ("message", "text", "image", "member:", "custom:", "event:delete")
FILTER_GROUPS = {"chatevents": CHAT_EVENT_TYPES}


@dataclass(frozen=True)
class TypeName:
    """What one `event_type` name matches where events are shown under a dialect's names: stored types, and
    `message` events of these message types."""

    types: tuple[str, ...] = ()
    messages: tuple[str, ...] = ()


TypeNames = Mapping[str, TypeName]
# How each family's clients name stored events (api/dialect_map.py maps them so for display): a filter matches
# what the family shows under that name. Names a family never shows match nothing there.
_LEGACY_SHOWN = ("text", "image", "text:seen", "image:seen", "text:delivered", "image:delivered")
MODERN_NAMES: TypeNames = {
    "message": TypeName(("message", "text", "image")),
    "message:seen": TypeName(("message:seen", "text:seen", "image:seen")),
    "message:delivered": TypeName(("message:delivered", "text:delivered", "image:delivered")),
    **{name: TypeName() for name in _LEGACY_SHOWN},
}
LEGACY_NAMES: TypeNames = {
    "text": TypeName(("text",), ("text",)),
    "image": TypeName(("image",), ("image",)),
    "message": TypeName((), tuple(t for t in MESSAGE_TYPES if t not in ("text", "image"))),
    "text:seen": TypeName(("text:seen", "message:seen")),
    "text:delivered": TypeName(("text:delivered", "message:delivered")),
    "message:seen": TypeName(), "message:delivered": TypeName(),
}
_CUSTOM = re.compile(r"^custom:[\w\-:]{1,100}$")
_FILTER_TYPE = re.compile(r"^[\w\-:]+(:\*)?$|^\*$")
MAX_TYPE_FILTERS = 5


def is_creatable(event_type: str) -> bool:
    return (event_type in CONTENT_TYPES or event_type in RECEIPT_TYPES or event_type in AUDIO_TYPES
            or event_type in EPHEMERAL_TYPES or _CUSTOM.match(event_type) is not None)


def is_deletable(event_type: str) -> bool:
    return event_type in DELETABLE_TYPES or event_type.startswith("custom:")


@dataclass(frozen=True)
class Created:
    event: Event
    replayed: bool  # True when an idempotency key matched an earlier event


@dataclass(frozen=True)
class History:
    page: Page[Event]
    last_event_id: int
    served_up_to: int | None  # set when the reader may not see past this id (its membership ended)

    @property
    def complete(self) -> bool:
        return self.served_up_to is None


def parse_type_filter(raw: str) -> tuple[str, ...]:
    """`event_type=message,member:*`: up to five exact types or `prefix:*` wildcards."""
    types = tuple(t.strip() for t in raw.split(",") if t.strip())
    if not types or len(types) > MAX_TYPE_FILTERS or not all(_FILTER_TYPE.match(t) for t in types):
        raise DomainError("event:error:invalid-filter-group",
                          f'"event_type" must be up to {MAX_TYPE_FILTERS} comma-separated event types')
    if "*" in types:
        return ()
    return tuple(t[:-1] if t.endswith(":*") else t for t in types)


def _flag(raw: str | None, name: str) -> bool:
    if raw is None or raw.lower() == "false":
        return False
    if raw.lower() == "true":
        return True
    raise invalid(name, f'"{name}" must be a boolean')


def _group_types(group: str | None) -> tuple[str, ...]:
    if group is None:
        return ()
    types = FILTER_GROUPS.get(group.lower())
    if types is None:
        raise DomainError("event:error:invalid-filter-group",
                          f'"filter_group_type" must be one of [{", ".join(FILTER_GROUPS)}]')
    return types


def _named(types: tuple[str, ...], names: TypeNames) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The stored types and message types that `types`, as a family names them, stand for."""
    stored: list[str] = []
    messages: list[str] = []
    for name in types:
        alias = names.get(name, TypeName((name,)))
        stored += [t for t in alias.types if t not in stored]
        messages += [t for t in alias.messages if t not in messages]
    return tuple(stored), tuple(messages)


def event_filter(filters: Mapping[str, str], max_id: int | None, names: TypeNames | None = None) -> EventFilter:
    """The store's filter for a listing's query. `names`: how the family names events, when it does not show
    them as stored (see `matches_nothing`)."""
    def id_of(name: str) -> int | None:
        raw = filters.get(name)
        return None if raw is None else event_id_value(raw, name)

    raw_types = filters.get("event_type")
    types = parse_type_filter(raw_types) if raw_types else _group_types(filters.get("filter_group_type"))
    messages: tuple[str, ...] = ()
    if raw_types and types and names:
        types, messages = _named(types, names)
    return EventFilter(
        start_id=id_of("start_id"), end_id=id_of("end_id"),
        types=types, message_types=messages,
        exclude_deleted=_flag(filters.get("exclude_deleted_events"), "exclude_deleted_events"),
        max_id=max_id,
    )


def matches_nothing(filter: EventFilter, filters: Mapping[str, str]) -> bool:
    """True for an `event_type` naming only events that the family never shows under those names."""
    raw_types = filters.get("event_type")
    return bool(raw_types) and not filter.types and not filter.message_types \
        and parse_type_filter(raw_types or "") != ()  # `*`: every type


class EventService:
    def __init__(self, store: Store, clock: Clock, limits: Limits, sink: EventSink) -> None:
        self._store = store
        self._clock = clock
        self._limits = limits
        self._sink = sink

    # -- checks ---------------------------------------------------------------------------------------------
    def check_body(self, event_type: str, body: JSON) -> JSON:
        if event_type == "message":
            return self._check_message(body)
        if event_type == "text":
            text = optional_str(body, "text", self._limits.max_text_chars, label="body.text")
            if not text:
                raise invalid("body.text", '"body.text" is required')
            return body
        if event_type == "image":
            representations = body.get("representations", body)  # iOS posts it unwrapped (reference §19)
            if not isinstance(representations, dict) or not isinstance(representations.get("original"), dict):
                raise invalid("body.representations", '"body.representations" must be an object with "original"')
            return {**{k: v for k, v in body.items() if k != "representations"}, "representations": representations}
        if event_type in RECEIPT_TYPES:
            if "event_id" not in body:
                raise invalid("body.event_id", '"body.event_id" is required')
            event_id_value(body["event_id"], "body.event_id")
            return body
        if event_type.startswith("custom:") and json_size(body) > self._limits.max_custom_body_bytes:
            raise invalid("body", f'"body" must be at most {self._limits.max_custom_body_bytes} bytes of JSON')
        return body

    def _check_message(self, body: JSON) -> JSON:
        message_type = body.get("message_type")
        if message_type not in MESSAGE_TYPES:
            raise invalid("body.message_type", f'"body.message_type" must be one of [{", ".join(MESSAGE_TYPES)}]')
        if message_type == "text":
            text = optional_str(body, "text", self._limits.max_text_chars, label="body.text", nullable=False)
            if not text:
                raise invalid("body.text", '"body.text" is required')
        elif message_type in ("image", "audio", "video", "file"):
            media = optional_object(body, message_type, label=f"body.{message_type}")
            if media is None or not isinstance(media.get("url"), str):
                raise invalid(f"body.{message_type}.url", f'"body.{message_type}.url" is required')
        elif message_type == "custom" and json_size(body.get("custom")) > self._limits.max_custom_body_bytes:
            raise invalid("body.custom", f'"body.custom" must be at most {self._limits.max_custom_body_bytes} bytes')
        return body

    @staticmethod
    def _check_sender(principal: Principal, sender: Member | None) -> Member | None:
        if sender is None:
            if principal.user is not None:
                raise DomainError("event:error:not-joined", "The member is not in a 'JOINED' state.")
            return None
        if principal.user is not None and sender.user_id != principal.user.id:
            raise forbidden("A user may only send events as its own member.", "event:error:permission-denied")
        return require_joined(sender)

    # -- writes ---------------------------------------------------------------------------------------------
    async def create(
        self, principal: Principal, conversation_id: str, payload: JSON, idempotency_key: str | None = None
    ) -> Created:
        event_type = payload.get("type")
        if not isinstance(event_type, str) or not event_type:
            raise invalid("type", '"type" is required')
        if not is_creatable(event_type):
            raise DomainError("event:error:unknown-event", f"Events of type '{event_type}' cannot be created.")
        body = self.check_body(event_type, body_object(payload.get("body", {})))
        from_id = optional_str(payload, "from", 100)
        to_id = optional_str(payload, "to", 100)
        now = iso(self._clock.now())
        if event_type in EPHEMERAL_TYPES:
            return Created(await self._ephemeral(principal, conversation_id, event_type, from_id, to_id, body, now),
                           replayed=False)
        async with self._store.conversation_tx(principal.application_id, conversation_id) as tx:
            require_writable(tx.conversation)
            sender = await self._sender(tx, principal, from_id)
            key = f"{sender.id if sender else '-'}:{idempotency_key}" if idempotency_key else None
            if key is not None and (earlier := await tx.event_by_key(key)) is not None:
                return Created(earlier, replayed=True)
            if to_id is not None and await tx.member(to_id) is None:
                raise not_found("member")
            if event_type in RECEIPT_TYPES and event_id_value(body["event_id"], "body.event_id") > \
                    tx.conversation.last_event_id:
                raise not_found("event")  # a receipt for an event that does not exist
            event = await tx.append_event(NewEvent(event_type, sender, to_id, body, now, key))
            if event_type in RECEIPT_TYPES and sender is not None:
                await self._advance_horizon(tx, sender, event_type, body)
                await self._record_receipt(tx, sender, event_type, body, now)
        await self._sink.committed(principal.application_id, [event])
        return Created(event, replayed=False)

    async def _ephemeral(self, principal: Principal, conversation_id: str, event_type: str, from_id: str | None,
                         to_id: str | None, body: JSON, now: str) -> Event:
        """Typing and other ephemeral events are fanned out, never stored: no id, no place in history, and so
        no write transaction either; the sender is checked from a read."""
        app = principal.application_id
        conversation = await self._store.conversation(app, conversation_id)
        if conversation is None:
            raise not_found("conversation")
        require_writable(conversation)
        if from_id is not None:
            sender = await self._store.member(app, conversation_id, from_id)
            if sender is None:
                raise not_found("member")
        elif principal.user is not None:
            sender = await self._store.latest_member_of_user(app, conversation_id, principal.user.id)
        else:
            sender = None
        sender = self._check_sender(principal, sender)
        if to_id is not None and await self._store.member(app, conversation_id, to_id) is None:
            raise not_found("member")
        event = Event(conversation_id, 0, event_type, sender.id if sender else None, to_id, body, now,
                      from_user=sender.user if sender else None)
        await self._sink.committed(app, [event])
        return event

    async def _sender(self, tx: ConversationTx, principal: Principal, from_id: str | None) -> Member | None:
        if from_id is not None:
            sender = await tx.member(from_id)
            if sender is None:
                raise not_found("member")
        elif principal.user is not None:
            sender = await tx.live_member_of_user(principal.user.id)
        else:
            sender = None
        return self._check_sender(principal, sender)

    @staticmethod
    async def _advance_horizon(tx: ConversationTx, member: Member, event_type: str, body: JSON) -> None:
        """Seeing event N means having seen everything before it (for unread counts); delivered likewise."""
        target = event_id_value(body["event_id"], "body.event_id")
        if event_type.endswith(":seen") and target > member.seen_event_id:
            await tx.update_member(dataclasses.replace(
                member, seen_event_id=target, delivered_event_id=max(member.delivered_event_id, target)))
        elif event_type.endswith(":delivered") and target > member.delivered_event_id:
            await tx.update_member(dataclasses.replace(member, delivered_event_id=target))

    @staticmethod
    async def _record_receipt(tx: ConversationTx, member: Member, event_type: str, body: JSON, now: str) -> None:
        """The per-event maps cover content (text, image, message) received from someone else: a client that
        marks its own message delivered (the Vonage client SDK does) is not another member's receipt."""
        target = await tx.event(event_id_value(body["event_id"], "body.event_id"))
        if target is None or target.type not in CONTENT_TYPES or target.from_member == member.id:
            return
        await tx.add_receipt(Receipt(target.id, event_type.rsplit(":", 1)[1], member.id, now))

    async def delete(self, principal: Principal, conversation_id: str, event_id: int) -> None:
        await readable_conversation(self._store, principal, conversation_id)
        now = iso(self._clock.now())
        async with self._store.conversation_tx(principal.application_id, conversation_id) as tx:
            event = await tx.event(event_id)
            if event is None:
                raise not_found("event")
            if not is_deletable(event.type):
                raise DomainError("event:error:delete-not-allowed", "Only message and custom events are allowed.")
            sender = await tx.member(event.from_member) if event.from_member else None
            if principal.user is not None and (sender is None or sender.user_id != principal.user.id):
                raise forbidden("Only the sender or an admin may delete an event.", "event:error:delete-not-allowed")
            if event.deleted:
                return
            await tx.mark_event_deleted(event_id, now)
            marker = await tx.append_event(NewEvent(
                "event:delete", sender, None, {"event_id": event_id}, now))
        await self._sink.committed(principal.application_id, [marker])

    # -- reads ----------------------------------------------------------------------------------------------
    async def get(self, principal: Principal, conversation_id: str, event_id: int) -> Event:
        _, member = await readable_conversation(self._store, principal, conversation_id)
        limit = history_limit(member)
        event = await self._store.event(principal.application_id, conversation_id, event_id)
        if event is None or (limit is not None and event.id > limit):
            raise not_found("event")
        return event

    async def list(self, principal: Principal, conversation_id: str, request: PageRequest,
                   names: TypeNames | None = None, receipts: bool = False) -> Page[Event]:
        return (await self.history(principal, conversation_id, request, names, receipts)).page

    async def history(self, principal: Principal, conversation_id: str, request: PageRequest,
                      names: TypeNames | None = None, receipts: bool = False) -> History:
        """A page of events, plus whether the range asked for could be served in full: a reader whose
        membership ended sees history only up to its leave, and a catching-up client must be told so rather
        than silently get less. `receipts`: each text/image/message carries its receipt maps (`state`)."""
        conversation, member = await readable_conversation(self._store, principal, conversation_id)
        limit = history_limit(member)
        filter = event_filter(request.filters, limit, names)
        rows = [] if matches_nothing(filter, request.filters) else await self._store.events(
            principal.application_id, conversation_id, request.scan(), filter)
        asked = filter.end_id or conversation.last_event_id
        cut = limit is not None and asked > limit
        page = paginate(rows, request, lambda event: event.id)
        if receipts:
            left_at = member.left_at if member is not None and member.state is MemberState.LEFT else None
            page = dataclasses.replace(page, items=await self._with_state(
                principal.application_id, conversation_id, page.items, left_at))
        return History(page, conversation.last_event_id, served_up_to=limit if cut else None)

    async def _with_state(self, application_id: str, conversation_id: str, events: Sequence[Event],
                          until: str | None) -> Sequence[Event]:
        """The events, each text/image/message carrying its receipt maps: for a reader who left (`until`, its
        leave), the receipts given until then (like the history, the maps stop there)."""
        content = [e.id for e in events if e.type in CONTENT_TYPES]
        maps: dict[int, dict[str, dict[str, str]]] = {i: {} for i in content}
        for receipt in await self._store.receipts(application_id, conversation_id, content):
            field = RECEIPT_FIELDS.get(receipt.kind)
            if field is not None and (until is None or receipt.timestamp <= until):
                maps[receipt.event_id].setdefault(field, {})[receipt.member_id] = receipt.timestamp
        return [dataclasses.replace(e, state={"seen_by": {}, "delivered_to": {}, **maps[e.id]})
                if e.id in maps else e for e in events]

    async def read_state(self, principal: Principal, conversation_id: str, member_id: str | None) -> ReadState:
        """A member's horizons and unread count (`member_id` None: the caller's own membership). Unread counts
        text, image and message events from others after the seen horizon: seeing event N counts as having
        seen everything before it."""
        if member_id is None and principal.user is None:
            raise DomainError("user:error:invalid-user-token", "Token does not contain a user name.")
        conversation, own = await readable_conversation(self._store, principal, conversation_id)
        member = own if member_id is None else await self._store.member(
            principal.application_id, conversation_id, member_id)
        if member is None:
            raise not_found("member")
        return await self.state_of(conversation, member, own)

    async def state_of(self, conversation: Conversation, member: Member, reader: Member | None) -> ReadState:
        """`member`'s read state as `reader` (None: an admin) may see it, for callers that have read both
        already (a user's own conversations list them with its memberships)."""
        # Up to where either membership ended: a reader who left may not learn what came after its leave.
        limits = [limit for limit in (history_limit(member), history_limit(reader)) if limit is not None]
        last = min(limits) if limits else conversation.last_event_id
        seen, delivered = min(member.seen_event_id, last), min(member.delivered_event_id, last)
        unread = await self._store.count_unread(conversation.application_id, conversation.id, member.user_id,
                                                seen, last, UNREAD_TYPES)
        return ReadState(member.id, seen, delivered, last, unread)

