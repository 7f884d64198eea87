"""Two writers of one conversation: each socket must get the events in id order, however the writers' tasks are
scheduled after their commits (the row lock orders the commits, nothing orders the announcements)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from parley.app import services
from parley.domain.clock import SystemClock
from parley.domain.ports import ConversationTx, Store
from parley.domain.principal import Principal
from parley.realtime.hub import Hub
from parley.settings import Settings
from tests.conftest import Api
from tests.hub_doubles import RecordingSocket


class FirstAnnouncerSlow:
    """The real store, except that the first writer resumes after its commit only once the second writer has
    committed too (a busy event loop, a slow connection release)."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._transactions = 0
        self._second_committed = asyncio.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    @contextlib.asynccontextmanager
    async def conversation_tx(self, application_id: str, conversation_id: str) -> AsyncIterator[ConversationTx]:
        self._transactions += 1
        number = self._transactions
        async with self._store.conversation_tx(application_id, conversation_id) as tx:
            yield tx
        if number == 1:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._second_committed.wait(), 1.0)
        elif number == 2:
            self._second_committed.set()


async def test_events_reach_sockets_in_id_order_when_the_first_writer_announces_late(
        api: Api, store: Store, settings: Settings) -> None:
    alice = await api.user("alice")
    conversation = await api.conversation("order")
    member = await api.member(conversation["id"], "alice")
    hub = Hub(store)
    events = services(FirstAnnouncerSlow(store), settings, SystemClock(), hub).events  # type: ignore[arg-type]
    socket = RecordingSocket(api.application_id, alice["id"])
    hub.attach(socket)
    admin = Principal(api.application_id)

    async def send(text: str) -> int:
        payload = {"type": "text", "from": member["id"], "body": {"text": text}}
        return (await events.create(admin, conversation["id"], payload)).event.id

    zero = await send("zero")  # the hub knows where the conversation stands, and that it is busy
    first = asyncio.ensure_future(send("first"))
    await asyncio.sleep(0)  # the first writer takes the conversation's lock first
    ids = await asyncio.gather(first, send("second"))
    assert socket.frames == [str(i) for i in [zero, *sorted(ids)]]
