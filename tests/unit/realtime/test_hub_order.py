"""The hub delivers a conversation's events to each socket in the order they were committed, even when looking up
who should see one takes longer than for the next (the store answers concurrent reads in any order)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any

from parley.domain.models import Event, Member
from parley.domain.paging import Scan
from parley.domain.ports import Store
from parley.realtime.hub import HOLD_BACK_S, Hub
from tests.conftest import Api
from tests.hub_doubles import RecordingSocket


class FirstReadSlow:
    """The real store, except that its first members read answers only after the second one (or a while)."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._reads = 0
        self._second_done = asyncio.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def members(self, application_id: str, conversation_id: str, scan: Scan) -> Sequence[Member]:
        self._reads += 1
        read = self._reads
        if read == 1:
            with contextlib.suppress(TimeoutError):  # a hub that waits for this read never makes the second
                await asyncio.wait_for(self._second_done.wait(), 0.3)
        found = await self._store.members(application_id, conversation_id, scan)
        if read == 2:
            self._second_done.set()
        return found


def text(conversation_id: str, event_id: int, member_id: str) -> Event:
    return Event(conversation_id, event_id, "text", member_id, None, {"text": str(event_id)}, "2026-01-01T00:00Z")


async def test_events_reach_a_socket_in_commit_order_when_an_earlier_lookup_is_slower(
        api: Api, store: Store) -> None:
    alice = await api.user("alice")
    conversation = await api.conversation("order")
    member = await api.member(conversation["id"], "alice")
    hub = Hub(FirstReadSlow(store))  # type: ignore[arg-type]
    socket = RecordingSocket(api.application_id, alice["id"])
    hub.attach(socket)
    first = asyncio.ensure_future(hub.committed(api.application_id, [text(conversation["id"], 5, member["id"])]))
    await asyncio.sleep(0)  # the first event's commit is announced first
    second = asyncio.ensure_future(hub.committed(api.application_id, [text(conversation["id"], 6, member["id"])]))
    await asyncio.gather(first, second)
    assert socket.frames == ["5", "6"]


async def test_a_gap_waits_briefly_then_goes_on_and_a_late_event_is_still_delivered(api: Api, store: Store) -> None:
    alice = await api.user("alice")
    conversation = await api.conversation("gap")
    member = await api.member(conversation["id"], "alice")
    hub = Hub(store)
    socket = RecordingSocket(api.application_id, alice["id"])
    hub.attach(socket)
    cid = conversation["id"]
    await hub.committed(api.application_id, [text(cid, 5, member["id"])])
    await hub.committed(api.application_id, [text(cid, 7, member["id"])])  # 6 is still being announced
    assert socket.frames == ["5"]
    await hub.committed(api.application_id, [text(cid, 6, member["id"])])
    assert socket.frames == ["5", "6", "7"]  # in id order once 6 came
    await hub.committed(api.application_id, [text(cid, 9, member["id"])])
    await asyncio.sleep(HOLD_BACK_S * 3)  # 8 never comes in time: 9 goes on
    assert socket.frames == ["5", "6", "7", "9"]
    await hub.committed(api.application_id, [text(cid, 8, member["id"])])
    assert socket.frames == ["5", "6", "7", "9", "8"]  # late, but not lost
