"""Members and their state machine: INVITED -> JOINED -> LEFT, with INVITED -> LEFT for a declined invite.

LEFT is terminal for a member record: joining again creates a new member. At most one live (INVITED or JOINED)
member per user and conversation; the store enforces that with a unique index, so racing joins cannot both win.
"""

from __future__ import annotations

import dataclasses

from parley.domain import ids
from parley.domain.access import readable_conversation, require_writable
from parley.domain.clock import Clock, iso
from parley.domain.errors import DomainError, already_joined, forbidden, invalid, not_found
from parley.domain.limits import Limits
from parley.domain.models import JSON, Conversation, Event, Member, MemberState, User, UserRef
from parley.domain.paging import Page, PageRequest, Scan, paginate
from parley.domain.ports import ConversationTx, EventSink, NewEvent, Store
from parley.domain.principal import Principal
from parley.domain.validate import one_of, optional_object, optional_str

CHANNEL_TYPES = ("app", "phone", "sip", "websocket", "vbc", "sms", "mms", "whatsapp", "viber", "messenger")

_TRANSITIONS: dict[MemberState, frozenset[MemberState]] = {
    MemberState.INVITED: frozenset({MemberState.JOINED, MemberState.LEFT}),
    MemberState.JOINED: frozenset({MemberState.LEFT}),
    MemberState.LEFT: frozenset(),
}


def check_transition(current: MemberState, target: MemberState) -> None:
    """Raise the API's error for an illegal move of the member state machine."""
    if target in _TRANSITIONS[current]:
        return
    if current is MemberState.LEFT:
        raise DomainError("conversation:error:invalid-member-state", "The conversation membership has already ended.")
    if current is MemberState.JOINED and target is MemberState.JOINED:
        raise already_joined()
    raise invalid("state", f'"state" cannot change from {current.value.lower()} to {target.value.lower()}')


def user_ref(user: User) -> UserRef:
    return UserRef(user.id, user.name, user.display_name, user.image_url,
                   dict(user.properties.get("custom_data") or {}))


def member_event_body(member: Member, conversation: Conversation) -> JSON:
    """The body of `member:invited|joined|left`: the member as the clients' event handlers read it."""
    user = member.user
    timestamp = {k: v for k, v in (("invited", member.invited_at), ("joined", member.joined_at),
                                   ("left", member.left_at)) if v}
    body: JSON = {
        "member_id": member.id,
        "user": {
            "id": member.user_id, "user_id": member.user_id, "member_id": member.id,
            "name": user.name if user else None,
            "display_name": user.display_name if user else None,
            "image_url": user.image_url if user else None,
        },
        "channel": member.channel,
        "media": member.media,
        "timestamp": timestamp,
        "initiator": member.initiator,
        "conversation": {"conversation_id": conversation.id, "name": conversation.name,
                         "display_name": conversation.display_name, "image_url": conversation.image_url},
    }
    if member.invited_by:
        body["invited_by"] = member.invited_by
    if member.left_reason:
        body["reason"] = member.left_reason
    return body


_EVENT_TYPE = {MemberState.INVITED: "member:invited", MemberState.JOINED: "member:joined",
               MemberState.LEFT: "member:left"}


class MemberService:
    def __init__(self, store: Store, clock: Clock, limits: Limits, sink: EventSink) -> None:
        self._store = store
        self._clock = clock
        self._limits = limits
        self._sink = sink

    async def _target_user(self, principal: Principal, body: JSON) -> User:
        spec = body.get("user")
        if not isinstance(spec, dict) or not (spec.get("id") or spec.get("name")):
            raise invalid("user", '"user" must be an object with an "id" or a "name"')
        user_id = optional_str(spec, "id", 100, label="user.id")
        name = optional_str(spec, "name", self._limits.max_name_chars, label="user.name")
        app = principal.application_id
        user = await (self._store.user(app, user_id) if user_id else self._store.user_by_name(app, str(name)))
        if user is None or (user_id and name and user.name != name):
            raise not_found("user")
        return user

    async def _actor(self, tx: ConversationTx, principal: Principal) -> Member | None:
        if principal.user is None:
            return None
        return await tx.live_member_of_user(principal.user.id)

    async def create(self, principal: Principal, conversation_id: str, body: JSON) -> Member:
        state = MemberState(one_of(body.get("state"), "state", ("invited", "joined")).upper())
        channel = optional_object(body, "channel")
        if channel is None:
            raise invalid("channel", '"channel" must be an object with a "type"')
        if channel.get("type") not in CHANNEL_TYPES:
            raise invalid("channel.type", f'"channel.type" must be one of [{", ".join(CHANNEL_TYPES)}]')
        media = optional_object(body, "media") or {}
        knocking_id = optional_str(body, "knocking_id", 100)
        # An admin may act on behalf of a member (`member_id_inviting`, or `from`, as the SDKs send it).
        on_behalf = None
        if principal.user is None:
            on_behalf = optional_str(body, "member_id_inviting", 100) or optional_str(body, "from", 100)
        user = await self._target_user(principal, body)
        now = iso(self._clock.now())
        async with self._store.conversation_tx(principal.application_id, conversation_id) as tx:
            require_writable(tx.conversation)
            if not await tx.user_is_live(user.id):
                raise not_found("user")  # deleted since it was looked up
            actor = await self._actor(tx, principal)
            if on_behalf:
                # Leniently: an id that names no joined member of this conversation leaves the act to the system.
                behalf = await tx.member(on_behalf)
                actor = behalf if behalf is not None and behalf.state is MemberState.JOINED else None
            self._authorize_create(principal, user, state, actor)
            existing = await tx.live_member_of_user(user.id)
            if (existing is not None and existing.state is MemberState.INVITED and state is MemberState.JOINED
                    and principal.user is not None and principal.user.id != user.id):
                raise forbidden("Only the invitee may accept an invitation.", "conversation:error:permission-denied")
            if existing is not None:
                member, event = await self._reuse(tx, existing, state, now)
            else:
                if await tx.count_live_members() >= self._limits.max_members:
                    raise DomainError("conversation:error:maximum-number-of-members",
                                      "The conversation has reached its maximum number of members.")
                member = self._new_member(principal, tx.conversation, user, state, channel, media,
                                          knocking_id, actor, now)
                if (earlier := await tx.latest_member_of_user(user.id)) is not None:
                    # joining again: a new member, but the same reader, whose read and delivery horizons stay
                    member = dataclasses.replace(member, seen_event_id=earlier.seen_event_id,
                                                 delivered_event_id=earlier.delivered_event_id)
                else:
                    # a first membership: what was said before it is history, not unread (as chat apps show a
                    # channel one has just joined)
                    last = tx.conversation.last_event_id
                    member = dataclasses.replace(member, seen_event_id=last, delivered_event_id=last)
                await tx.insert_member(member)
                event = await tx.append_event(NewEvent(
                    _EVENT_TYPE[state], actor or member, None,
                    member_event_body(member, tx.conversation), now))
        await self._sink.committed(principal.application_id, [event])
        return member

    @staticmethod
    def _authorize_create(principal: Principal, user: User, state: MemberState, actor: Member | None) -> None:
        if principal.user is None:
            return
        if user.id == principal.user.id:
            return  # a user may join, or invite, itself
        # A joined member may add others, invited or straight away joined: the In-App Messaging clients do both
        # (`conversation.invite()`, `conversation.join({user_name})`).
        if actor is None or actor.state is not MemberState.JOINED:
            raise forbidden("Only a joined member may add others.", "conversation:error:permission-denied")

    async def _reuse(
        self, tx: ConversationTx, existing: Member, state: MemberState, now: str) -> tuple[Member, Event]:
        """A join for a user who is already invited accepts the invite; anything else is a conflict."""
        if existing.state is MemberState.JOINED:
            raise already_joined()
        if state is MemberState.INVITED:
            raise DomainError("conversation:error:member-already-invited", "The user has already been invited.")
        # accepting an invite is the invitee's own act, whoever relays it (as with PATCH)
        return await self._transition(tx, existing, MemberState.JOINED, existing, None, now)

    def _new_member(
        self, principal: Principal, conversation: Conversation, user: User, state: MemberState, channel: JSON,
        media: JSON, knocking_id: str | None, actor: Member | None, now: str,
    ) -> Member:
        member_id = ids.new_id(ids.MEMBER)
        initiator_key = "invited" if state is MemberState.INVITED else "joined"
        if actor is None:
            initiator: JSON = {initiator_key: {"is_system": principal.is_admin}}
        else:
            initiator = {initiator_key: {"is_system": False, "user_id": actor.user_id, "member_id": actor.id}}
        channel_type = channel["type"]
        channel = {**channel, "type": channel_type}
        if channel_type == "app":
            channel.setdefault("from", {"type": "app"})
            channel["to"] = {"type": "app", "user": user.id}
        return Member(
            application_id=principal.application_id, id=member_id, conversation_id=conversation.id,
            user_id=user.id, state=state, channel=channel, media=media, initiator=initiator,
            invited_by=actor.id if actor and state is MemberState.INVITED else None, knocking_id=knocking_id,
            invited_at=now if state is MemberState.INVITED else None,
            joined_at=now if state is MemberState.JOINED else None,
            left_at=None, left_reason=None, left_event_id=None, seen_event_id=0, delivered_event_id=0,
            user=user_ref(user),
        )

    async def _transition(
        self, tx: ConversationTx, member: Member, target: MemberState, actor: Member | None,
        reason: JSON | None, now: str,
    ) -> tuple[Member, Event]:
        check_transition(member.state, target)
        initiator_key = "joined" if target is MemberState.JOINED else "left"
        who: JSON = ({"is_system": True} if actor is None
                     else {"is_system": False, "user_id": actor.user_id, "member_id": actor.id})
        changed = dataclasses.replace(
            member, state=target, initiator={**member.initiator, initiator_key: who},
            joined_at=now if target is MemberState.JOINED else member.joined_at,
            left_at=now if target is MemberState.LEFT else member.left_at,
            left_reason=reason if target is MemberState.LEFT else member.left_reason,
        )
        event = await tx.append_event(NewEvent(
            _EVENT_TYPE[target], actor or changed, None,
            member_event_body(changed, tx.conversation), now))
        if target is MemberState.LEFT:
            changed = dataclasses.replace(changed, left_event_id=event.id)
        await tx.update_member(changed)
        return changed, event

    async def update(self, principal: Principal, conversation_id: str, member_id: str, body: JSON) -> Member:
        target = MemberState(one_of(body.get("state"), "state", ("joined", "left")).upper())
        reason = optional_object(body, "reason")
        if reason is not None and target is not MemberState.LEFT:
            raise invalid("reason", '"reason" is only allowed with state "left"')
        _, mine = await readable_conversation(self._store, principal, conversation_id)
        if member_id == "me":  # `PATCH .../members/me`: the caller's own membership
            if principal.user is None:
                raise DomainError("user:error:invalid-user-token", "Token does not contain a user name.")
            member_id = mine.id if mine else ""
        now = iso(self._clock.now())
        async with self._store.conversation_tx(principal.application_id, conversation_id) as tx:
            member = await tx.member(member_id)
            if member is None:
                raise not_found("member")
            actor = await self._actor(tx, principal)
            self._authorize_update(principal, member, target, actor)
            if target is not MemberState.LEFT:
                require_writable(tx.conversation)
            if target is MemberState.JOINED and member.state is MemberState.INVITED:
                actor = member  # accepting an invite is the invitee's own act
            changed, event = await self._transition(tx, member, target, actor, reason, now)
        await self._sink.committed(principal.application_id, [event])
        return changed

    @staticmethod
    def _authorize_update(principal: Principal, member: Member, target: MemberState, actor: Member | None) -> None:
        if principal.user is None or member.user_id == principal.user.id:
            return
        if target is MemberState.LEFT and actor is not None and actor.state is MemberState.JOINED:
            return  # a joined member may remove (kick) another
        raise forbidden("A user may only change its own membership, or remove others as a joined member.",
                        "conversation:error:permission-denied")

    async def leave_everywhere(self, application_id: str, user_id: str) -> None:
        """End every live membership of a user who is being deleted, with `member:left` events."""
        reason = {"code": "user:deleted", "text": "The user was deleted."}
        after = None
        while True:
            rows = await self._store.user_conversations(
                application_id, user_id, Scan(limit=200, descending=False, after=after), None, None)
            if not rows:
                return
            for conversation, member in rows:
                if member.state is not MemberState.LEFT:
                    await self._leave(application_id, conversation.id, member.id, reason)
            after = rows[-1][0].seq

    async def _leave(self, application_id: str, conversation_id: str, member_id: str, reason: JSON) -> None:
        try:
            async with self._store.conversation_tx(application_id, conversation_id) as tx:
                current = await tx.member(member_id)
                if current is None or current.state is MemberState.LEFT:
                    return
                _, event = await self._transition(tx, current, MemberState.LEFT, None, reason,
                                                  iso(self._clock.now()))
        except DomainError as error:
            if error.code == "conversation:error:not-found":  # deleted meanwhile: nothing to leave
                return
            raise
        await self._sink.committed(application_id, [event])

    async def get(self, principal: Principal, conversation_id: str, member_id: str) -> Member:
        await readable_conversation(self._store, principal, conversation_id)
        member = await self._store.member(principal.application_id, conversation_id, member_id)
        if member is None:
            raise not_found("member")
        return member

    async def me(self, principal: Principal, conversation_id: str) -> Member:
        if principal.user is None:
            raise DomainError("user:error:invalid-user-token", "Token does not contain a user name.")
        _, member = await readable_conversation(self._store, principal, conversation_id)
        if member is None:
            raise not_found("member")
        return member

    async def list(self, principal: Principal, conversation_id: str, request: PageRequest) -> Page[Member]:
        await readable_conversation(self._store, principal, conversation_id)
        rows = await self._store.members(principal.application_id, conversation_id, request.scan())
        return paginate(rows, request, lambda member: member.seq)
