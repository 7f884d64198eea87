"""Conversations: create, read, update, delete, list (all of an application, or one user's)."""

from __future__ import annotations

import dataclasses

from parley.domain import ids
from parley.domain.access import readable_conversation, require_writable
from parley.domain.clock import Clock, iso
from parley.domain.errors import DomainError, forbidden, invalid, not_found
from parley.domain.limits import Limits
from parley.domain.models import JSON, Conversation, ConversationState, Member, MemberState
from parley.domain.paging import Page, PageRequest, paginate
from parley.domain.ports import EventSink, NewEvent, Store
from parley.domain.principal import Principal
from parley.domain.validate import bounded_object, optional_int, optional_object, optional_str, timestamp_value

MAX_TTL = 2_147_483_648


def _callback(body: JSON, limits: Limits) -> JSON | None:
    callback = optional_object(body, "callback")
    if callback is None:
        return None
    url = optional_str(callback, "url", limits.max_url_chars, label="callback.url")
    mask = optional_str(callback, "event_mask", 200, label="callback.event_mask")
    method = callback.get("method", "POST")
    if not isinstance(method, str) or method.upper() not in ("POST", "GET"):
        raise invalid("callback.method", '"callback.method" must be one of [POST, GET]')
    params = optional_object(callback, "params", label="callback.params") or {}
    result: JSON = {"method": method.upper(), "params": params}
    if url is not None:
        result["url"] = url
    if mask is not None:
        result["event_mask"] = mask
    return result


def _properties(body: JSON, limits: Limits) -> JSON | None:
    properties = optional_object(body, "properties")
    if properties is None:
        return None
    result: JSON = {}
    ttl = optional_int(properties, "ttl", 0, MAX_TTL, label="properties.ttl")
    if ttl is not None:
        result["ttl"] = ttl
    for key in ("type", "custom_sort_key"):
        value = optional_str(properties, key, limits.max_name_chars, label=f"properties.{key}")
        if value is not None:
            result[key] = value
    custom = bounded_object(properties, "custom_data", limits.max_custom_data_bytes, label="properties.custom_data")
    if custom is not None:
        result["custom_data"] = custom
    return result


class ConversationService:
    def __init__(self, store: Store, clock: Clock, limits: Limits, sink: EventSink) -> None:
        self._store = store
        self._clock = clock
        self._limits = limits
        self._sink = sink

    def _fields(self, body: JSON, creating: bool) -> dict[str, object]:
        limits = self._limits
        fields: dict[str, object] = {}
        if "name" in body:
            name = optional_str(body, "name", limits.max_name_chars, nullable=creating)
            if name is not None:
                if not name:
                    raise invalid("name", '"name" is not allowed to be empty')
                fields["name"] = name
        if "display_name" in body:
            fields["display_name"] = optional_str(body, "display_name", limits.max_display_name_chars)
        if "image_url" in body:
            fields["image_url"] = optional_str(body, "image_url", limits.max_url_chars)
        properties = _properties(body, limits)
        if properties is not None:
            fields["properties"] = properties
        callback = _callback(body, limits)
        if callback is not None:
            fields["callback"] = callback
        return fields

    async def create(self, principal: Principal, body: JSON) -> Conversation:
        fields = self._fields(body, creating=True)
        conversation = Conversation(
            application_id=principal.application_id,
            id=ids.new_id(ids.CONVERSATION),
            name=str(fields.get("name") or ids.generated_name()),
            display_name=fields.get("display_name"),  # type: ignore[arg-type]
            image_url=fields.get("image_url"),  # type: ignore[arg-type]
            state=ConversationState.ACTIVE,
            properties=fields.get("properties") or {},  # type: ignore[arg-type]
            callback=fields.get("callback"),  # type: ignore[arg-type]
            last_event_id=0,
            created=iso(self._clock.now()),
            updated=None,
            created_by=principal.user.id if principal.user else None,
        )
        return await self._store.insert_conversation(conversation)

    async def get(self, principal: Principal, conversation_id: str) -> Conversation:
        conversation, _ = await readable_conversation(self._store, principal, conversation_id)
        return conversation

    async def get_by_id_or_name(self, principal: Principal, id_or_name: str) -> Conversation:
        """The client SDKs' `getConversation(conversationIdOrName)`: an id first, then a name."""
        app = principal.application_id
        found = await self._store.conversation(app, id_or_name) or \
            await self._store.conversation_by_name(app, id_or_name)
        if found is None:
            raise not_found("conversation")
        return await self.get(principal, found.id)

    async def _acting_member(self, principal: Principal, conversation_id: str) -> Member | None:
        """The caller's JOINED member, required of users for changes; admins act as the system."""
        if principal.user is None:
            return None
        _, member = await readable_conversation(self._store, principal, conversation_id)
        if member is None or member.state is not MemberState.JOINED:
            raise forbidden("Only a joined member may change the conversation.",
                            "conversation:error:permission-denied")
        return member

    async def update(self, principal: Principal, conversation_id: str, body: JSON) -> Conversation:
        actor = await self._acting_member(principal, conversation_id)
        fields = self._fields(body, creating=False)
        now = iso(self._clock.now())
        async with self._store.conversation_tx(principal.application_id, conversation_id) as tx:
            require_writable(tx.conversation)
            if "properties" in fields:
                fields["properties"] = {**tx.conversation.properties, **fields["properties"]}  # type: ignore[dict-item]
            changed = dataclasses.replace(tx.conversation, updated=now, **fields)  # type: ignore[arg-type]
            await tx.update_conversation(changed)
            event = await tx.append_event(NewEvent(
                "conversation:updated", actor, None, updated_body(changed), now))
            updated = dataclasses.replace(changed, last_event_id=event.id)
        await self._sink.committed(principal.application_id, [event])
        return updated

    async def delete(self, principal: Principal, conversation_id: str) -> None:
        # An admin or the conversation's creator (the In-App Messaging clients' `conversation.del()`): any user
        # may join a conversation it knows the id of, so "a member may delete it" would let anyone delete anything.
        if principal.user is not None:
            conversation, _ = await readable_conversation(self._store, principal, conversation_id)
            if conversation.created_by != principal.user.id:
                raise forbidden("Only an admin token or the conversation's creator may delete it.",
                                "conversation:error:permission-denied")
        async with self._store.conversation_tx(principal.application_id, conversation_id) as tx:
            await tx.delete_conversation(iso(self._clock.now()))

    async def list(self, principal: Principal, request: PageRequest) -> Page[Conversation]:
        if principal.user is not None:
            page = await self.list_of_user(principal, principal.user.id, request)
            return Page([c for c, _ in page.items], page.request, page.next, page.prev)
        rows = await self._store.conversations(principal.application_id, request.scan(), *_dates(request))
        return paginate(rows, request, lambda conversation: conversation.seq)

    async def list_of_user(
        self, principal: Principal, user_id: str, request: PageRequest
    ) -> Page[tuple[Conversation, Member]]:
        if principal.user is not None and principal.user.id != user_id:
            raise forbidden("A user token may only list its own conversations.")
        if await self._store.user(principal.application_id, user_id) is None:
            raise not_found("user")
        state_filter = request.filters.get("state")
        state = None
        if state_filter:
            try:
                state = MemberState(state_filter.upper())
            except ValueError as exc:
                raise DomainError("user:error:invalid-state-lookup",
                                  '"state" must be one of [INVITED, JOINED, LEFT]') from exc
        rows = await self._store.user_conversations(
            principal.application_id, user_id, request.scan(), state, *_dates(request))
        return paginate(rows, request, lambda row: row[0].seq)


def _dates(request: PageRequest) -> tuple[str | None, str | None]:
    """`date_start` / `date_end` filters (on creation time) in the stored form."""
    start, end = (timestamp_value(request.filters[k], k) if request.filters.get(k) else None
                  for k in ("date_start", "date_end"))
    return start, end


def updated_body(conversation: Conversation) -> JSON:
    return {
        "id": conversation.id,
        "name": conversation.name,
        "display_name": conversation.display_name,
        "image_url": conversation.image_url,
        "state": conversation.state.value,
        "timestamp": {"created": conversation.created, "updated": conversation.updated},
    }

