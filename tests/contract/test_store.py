"""The Store contract, run against every backend (SQLite and PostgreSQL via the `store` fixture)."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid

import pytest

from parley.domain import ids
from parley.domain.clock import SystemClock, iso
from parley.domain.errors import DomainError
from parley.domain.members import user_ref
from parley.domain.models import Application, Conversation, ConversationState, Member, MemberState, Receipt, User
from parley.domain.paging import Scan
from parley.domain.ports import EventFilter, NewEvent, Store
from tests.conftest import KeyPair, add_application

ALL = Scan(limit=1000, descending=False, after=None)


def now() -> str:
    return iso(SystemClock().now())


def new_user(application: Application, name: str) -> User:
    return User(application.id, ids.new_id(ids.USER), name, None, None, {}, {}, now(), None)


def new_conversation(application: Application, name: str) -> Conversation:
    return Conversation(application.id, ids.new_id(ids.CONVERSATION), name, None, None, ConversationState.ACTIVE,
                        {}, None, 0, now(), None)


def new_member(conversation: Conversation, user: User, state: MemberState = MemberState.JOINED) -> Member:
    return Member(conversation.application_id, ids.new_id(ids.MEMBER), conversation.id, user.id, state,
                  {"type": "app"}, {}, {}, None, None, None, now(), None, None, None, 0, 0, user=user_ref(user))


def text(member: Member | None, body: str, key: str | None = None) -> NewEvent:
    return NewEvent("message", member, None, {"message_type": "text", "text": body}, now(),
                    key)


async def setup_chat(store: Store, application: Application, name: str = "chat"
                     ) -> tuple[Conversation, User, Member]:
    user = await store.insert_user(new_user(application, f"{name}-user"))
    conversation = await store.insert_conversation(new_conversation(application, name))
    member = new_member(conversation, user)
    async with store.conversation_tx(application.id, conversation.id) as tx:
        await tx.insert_member(member)
    return conversation, user, member


async def test_applications_round_trip_and_delete(store: Store, keys: KeyPair) -> None:
    application = await add_application(store, keys, "one")
    assert await store.application(application.id) == application
    assert application in await store.applications()
    with pytest.raises(DomainError):
        await store.insert_application(application)
    assert await store.delete_application(application.id) is True
    assert await store.application(application.id) is None
    assert await store.delete_application(application.id) is False


async def test_an_application_keeps_its_own_origins(store: Store, keys: KeyPair) -> None:
    async def origins_of(application_id: str) -> tuple[str, ...] | None:
        application = await store.application(application_id)
        assert application is not None
        return application.origins

    listed = Application(str(uuid.uuid4()), "listed", keys.public_pem, now(),
                         ("https://a.example", "http://localhost:3000"))
    await store.insert_application(listed)
    assert await store.application(listed.id) == listed
    unlisted = await add_application(store, keys, "unlisted")
    assert await origins_of(unlisted.id) is None  # the server's list applies
    assert await store.set_application_origins(unlisted.id, ("*",)) is True
    assert await origins_of(unlisted.id) == ("*",)
    assert await store.set_application_origins(listed.id, None) is True
    assert await origins_of(listed.id) is None
    assert await store.set_application_origins(listed.id, ()) is True  # only the server's own origin
    assert await origins_of(listed.id) == ()
    assert {a.id: a.origins for a in await store.applications()}[unlisted.id] == ("*",)
    assert await store.set_application_origins(str(uuid.uuid4()), ("https://a.example",)) is False


async def test_every_read_is_scoped_by_application(store: Store, keys: KeyPair, other_keys: KeyPair) -> None:
    a = await add_application(store, keys, "a")
    b = await add_application(store, other_keys, "b")
    conversation, user, member = await setup_chat(store, a)
    assert await store.user(b.id, user.id) is None
    assert await store.user_by_name(b.id, user.name) is None
    assert await store.users(b.id, ALL, None) == []
    assert await store.conversation(b.id, conversation.id) is None
    assert await store.conversation_by_name(b.id, conversation.name) is None
    assert await store.conversation_by_name(a.id, conversation.name) == await store.conversation(a.id, conversation.id)
    assert await store.conversations(b.id, ALL, None, None) == []
    assert await store.member(b.id, conversation.id, member.id) is None
    assert await store.members(b.id, conversation.id, ALL) == []
    with pytest.raises(DomainError) as caught:
        async with store.conversation_tx(b.id, conversation.id):
            pass
    assert caught.value.code == "conversation:error:not-found"
    # the same names are free in another application
    await store.insert_user(new_user(b, user.name))
    await store.insert_conversation(new_conversation(b, conversation.name))


async def test_user_names_are_unique_until_deleted(store: Store, application: Application) -> None:
    alice = await store.insert_user(new_user(application, "alice"))
    assert alice.seq > 0
    with pytest.raises(DomainError) as caught:
        await store.insert_user(new_user(application, "alice"))
    assert caught.value.code == "user:error:duplicate-name"
    assert await store.delete_user(application.id, alice.id, now()) is True
    assert await store.user(application.id, alice.id) is None
    assert await store.delete_user(application.id, alice.id, now()) is False
    again = await store.insert_user(new_user(application, "alice"))
    assert [u.id for u in await store.users(application.id, ALL, "alice")] == [again.id]


async def test_update_user_keeps_uniqueness(store: Store, application: Application) -> None:
    await store.insert_user(new_user(application, "alice"))
    bob = await store.insert_user(new_user(application, "bob"))
    with pytest.raises(DomainError) as caught:
        await store.update_user(application.id, bob.id, {"name": "alice"}, now())
    assert caught.value.code == "user:error:duplicate-name"
    # concurrent changes of different fields both land
    await asyncio.gather(store.update_user(application.id, bob.id, {"display_name": "Bob"}, now()),
                         store.update_user(application.id, bob.id, {"properties": {"custom_data": {"k": 1}}}, now()))
    reread = await store.user(application.id, bob.id)
    assert reread is not None
    assert (reread.name, reread.display_name, reread.properties) == ("bob", "Bob", {"custom_data": {"k": 1}})
    assert await store.delete_user(application.id, bob.id, now())
    assert await store.update_user(application.id, bob.id, {"display_name": "gone"}, now()) is None


async def test_event_ids_count_from_one_per_conversation(store: Store, application: Application) -> None:
    first, _, member = await setup_chat(store, application, "first")
    second, _, other = await setup_chat(store, application, "second")
    async with store.conversation_tx(application.id, first.id) as tx:
        a = await tx.append_event(text(member, "a"))
        b = await tx.append_event(text(member, "b"))
    async with store.conversation_tx(application.id, second.id) as tx:
        c = await tx.append_event(text(other, "c"))
    assert (a.id, b.id, c.id) == (1, 2, 1)
    reread = await store.conversation(application.id, first.id)
    assert reread is not None and reread.last_event_id == 2
    assert b.from_user is not None and b.from_user.name == "first-user"


async def test_concurrent_writers_get_distinct_gapless_ids(store: Store, application: Application) -> None:
    conversation, _, member = await setup_chat(store, application)

    async def send(index: int) -> int:
        async with store.conversation_tx(application.id, conversation.id) as tx:
            await asyncio.sleep(0)  # yield inside the transaction, as a real driver does
            return (await tx.append_event(text(member, str(index)))).id

    allocated = await asyncio.gather(*(send(i) for i in range(40)))
    assert sorted(allocated) == list(range(1, 41))
    events = await store.events(application.id, conversation.id, ALL, EventFilter())
    assert [e.id for e in events] == list(range(1, 41))
    # ids commit in order: each event's text was written by the writer that got that id
    assert sorted(int(e.body["text"]) for e in events) == list(range(40))


async def test_a_failed_transaction_leaves_nothing(store: Store, application: Application) -> None:
    conversation, _, member = await setup_chat(store, application)
    with pytest.raises(RuntimeError):
        async with store.conversation_tx(application.id, conversation.id) as tx:
            await tx.append_event(text(member, "lost"))
            raise RuntimeError("boom")
    assert await store.events(application.id, conversation.id, ALL, EventFilter()) == []
    reread = await store.conversation(application.id, conversation.id)
    assert reread is not None and reread.last_event_id == 0


async def test_idempotency_keys_are_unique_per_conversation(store: Store, application: Application) -> None:
    conversation, _, member = await setup_chat(store, application)
    async with store.conversation_tx(application.id, conversation.id) as tx:
        event = await tx.append_event(text(member, "once", key="m:k1"))
        assert await tx.event_by_key("m:k1") == event
        assert await tx.event_by_key("m:k2") is None
    with pytest.raises(Exception):  # noqa: B017 - the driver's unique violation
        async with store.conversation_tx(application.id, conversation.id) as tx:
            await tx.append_event(text(member, "twice", key="m:k1"))
    assert len(await store.events(application.id, conversation.id, ALL, EventFilter())) == 1


async def test_one_live_membership_per_user(store: Store, application: Application) -> None:
    conversation, user, member = await setup_chat(store, application)
    with pytest.raises(DomainError) as caught:
        async with store.conversation_tx(application.id, conversation.id) as tx:
            await tx.insert_member(new_member(conversation, user, MemberState.INVITED))
    assert caught.value.code == "conversation:error:member-already-joined"
    async with store.conversation_tx(application.id, conversation.id) as tx:
        await tx.update_member(dataclasses.replace(member, state=MemberState.LEFT, left_at=now(), left_event_id=1))
        assert await tx.live_member_of_user(user.id) is None
        ended = await tx.latest_member_of_user(user.id)
        assert ended is not None and (ended.id, ended.state) == (member.id, MemberState.LEFT)
        rejoined = new_member(conversation, user)
        await tx.insert_member(rejoined)
        assert await tx.count_live_members() == 1
        newest = await tx.latest_member_of_user(user.id)
        assert newest is not None and newest.id == rejoined.id
    latest = await store.latest_member_of_user(application.id, conversation.id, user.id)
    assert latest is not None and latest.id == rejoined.id
    listed = await store.members(application.id, conversation.id, ALL)
    assert [(m.id, m.state) for m in listed] == [(member.id, MemberState.LEFT), (rejoined.id, MemberState.JOINED)]
    assert listed[0].user is not None and listed[0].user.name == user.name


async def test_user_conversations_show_the_latest_membership_once(store: Store, application: Application) -> None:
    conversation, user, member = await setup_chat(store, application)
    async with store.conversation_tx(application.id, conversation.id) as tx:
        await tx.update_member(dataclasses.replace(member, state=MemberState.LEFT))
        await tx.insert_member(new_member(conversation, user, MemberState.INVITED))
    rows = await store.user_conversations(application.id, user.id, ALL, None, None)
    assert [(c.id, m.state) for c, m in rows] == [(conversation.id, MemberState.INVITED)]
    assert await store.user_conversations(application.id, user.id, ALL, MemberState.LEFT, None) == []


async def test_event_filters(store: Store, application: Application) -> None:
    conversation, _, member = await setup_chat(store, application)
    async with store.conversation_tx(application.id, conversation.id) as tx:
        await tx.append_event(NewEvent("member:joined", member, None, {}, now()))
        for i in range(4):
            await tx.append_event(text(member, str(i)))
        await tx.append_event(NewEvent("custom:ping", member, None, {"x": 1}, now()))
        await tx.mark_event_deleted(3, now())

    async def ids_of(filter: EventFilter, scan: Scan = ALL) -> list[int]:
        return [e.id for e in await store.events(application.id, conversation.id, scan, filter)]

    assert await ids_of(EventFilter()) == [1, 2, 3, 4, 5, 6]
    assert await ids_of(EventFilter(types=("message",))) == [2, 3, 4, 5]
    assert await ids_of(EventFilter(types=("member:", "custom:ping"))) == [1, 6]
    # texts by their message type, deleted ones too (the stored body keeps it); other types still alternatives
    assert await ids_of(EventFilter(message_types=("text",))) == [2, 3, 4, 5]
    assert await ids_of(EventFilter(types=("custom:ping",), message_types=("image", "text"))) == [2, 3, 4, 5, 6]
    assert await ids_of(EventFilter(message_types=("image",))) == []
    assert await ids_of(EventFilter(start_id=2, end_id=4)) == [2, 3, 4]
    assert await ids_of(EventFilter(exclude_deleted=True)) == [1, 2, 4, 5, 6]
    assert await ids_of(EventFilter(max_id=2)) == [1, 2]
    assert await ids_of(EventFilter(), Scan(limit=2, descending=True, after=5)) == [4, 3]
    deleted = await store.event(application.id, conversation.id, 3)
    assert deleted is not None and deleted.deleted is not None and deleted.body == {}
    async with store.conversation_tx(application.id, conversation.id) as tx:  # NUL escapes: no failed query
        await tx.append_event(NewEvent("message", member, None, {"message_type": "image", "x": "\x00"}, now()))
        await tx.append_event(NewEvent("custom:nul", member, None, {"x": "\x00"}, now()))
    assert await ids_of(EventFilter(message_types=("image",))) in ([], [7])  # PostgreSQL cannot look inside
    assert await ids_of(EventFilter(types=("custom:nul",), message_types=("text",))) == [2, 3, 4, 5, 8]


async def test_keyset_paging_neither_skips_nor_repeats_under_inserts(store: Store, application: Application) -> None:
    before = [await store.insert_user(new_user(application, f"u{i:02}")) for i in range(12)]
    seen: list[str] = []
    after = None
    for page in range(10):
        rows = await store.users(application.id, Scan(limit=5, descending=False, after=after), None)
        if not rows:
            break
        seen.extend(u.id for u in rows)
        after = rows[-1].seq
        # concurrent writers add users between page fetches
        await asyncio.gather(*(store.insert_user(new_user(application, f"new{page}-{i}")) for i in range(2)))
    assert len(seen) == len(set(seen))
    assert {u.id for u in before} <= set(seen)


async def test_deleted_conversations_disappear_and_free_their_name(store: Store, application: Application) -> None:
    conversation, _, _ = await setup_chat(store, application)
    async with store.conversation_tx(application.id, conversation.id) as tx:
        await tx.delete_conversation(now())
    assert await store.conversation(application.id, conversation.id) is None
    assert await store.conversations(application.id, ALL, None, None) == []
    await store.insert_conversation(new_conversation(application, conversation.name))
    with pytest.raises(DomainError):
        await store.insert_conversation(new_conversation(application, conversation.name))


async def test_receipts_first_one_wins_and_are_scoped_by_application(store: Store, application: Application,
                                                                     keys: KeyPair) -> None:
    conversation, _, alice = await setup_chat(store, application, "receipts")
    bob_user = await store.insert_user(new_user(application, "receipts-bob"))
    bob = new_member(conversation, bob_user)
    async with store.conversation_tx(application.id, conversation.id) as tx:
        await tx.insert_member(bob)
        first = await tx.append_event(text(alice, "one"))
        second = await tx.append_event(text(alice, "two"))
        await tx.add_receipt(Receipt(first.id, "delivered", bob.id, "2026-01-01T00:00:01.000Z"))
        await tx.add_receipt(Receipt(first.id, "seen", bob.id, "2026-01-01T00:00:02.000Z"))
        await tx.add_receipt(Receipt(first.id, "seen", bob.id, "2026-01-01T00:00:09.000Z"))  # a repeat: ignored
    found = await store.receipts(application.id, conversation.id, [first.id, second.id])
    assert [(r.event_id, r.kind, r.member_id, r.timestamp) for r in found] == [
        (first.id, "delivered", bob.id, "2026-01-01T00:00:01.000Z"),
        (first.id, "seen", bob.id, "2026-01-01T00:00:02.000Z")]
    assert await store.receipts(application.id, conversation.id, []) == []
    other = await add_application(store, keys, "other")
    assert await store.receipts(other.id, conversation.id, [first.id]) == []


async def test_unread_counts_content_from_others_after_the_horizon(store: Store, application: Application) -> None:
    conversation, alice_user, alice = await setup_chat(store, application, "unread")
    bob_user = await store.insert_user(new_user(application, "unread-bob"))
    bob = new_member(conversation, bob_user)
    async with store.conversation_tx(application.id, conversation.id) as tx:
        await tx.insert_member(bob)
        ids_ = [(await tx.append_event(text(alice, f"m{i}"))).id for i in range(5)]
        await tx.append_event(NewEvent("custom:x", alice, None, {}, now()))  # not a content type
        await tx.append_event(text(bob, "from bob"))  # bob's own
        await tx.mark_event_deleted(ids_[4], now())
    types = ["image", "message", "text"]
    assert await store.count_unread(application.id, conversation.id, bob_user.id, 0, None, types) == 4
    assert await store.count_unread(application.id, conversation.id, bob_user.id, ids_[1], None, types) == 2
    assert await store.count_unread(application.id, conversation.id, bob_user.id, 0, ids_[2], types) == 3
    assert await store.count_unread(application.id, conversation.id, alice_user.id, 0, None, types) == 1


async def test_a_user_checked_live_in_a_transaction_cannot_be_deleted_until_it_ends(
        store: Store, application: Application) -> None:
    conversation, _, _ = await setup_chat(store, application, "delete-race")
    joining = await store.insert_user(new_user(application, "delete-race-joiner"))
    async with store.conversation_tx(application.id, conversation.id) as tx:
        assert await tx.user_is_live(joining.id) is True
        deleting = asyncio.ensure_future(store.delete_user(application.id, joining.id, now()))
        await asyncio.sleep(0.2)
        assert not deleting.done()  # the delete waits for the joining transaction
        await tx.insert_member(new_member(conversation, joining))
    assert await deleting is True
    async with store.conversation_tx(application.id, conversation.id) as tx:
        assert await tx.user_is_live(joining.id) is False
