"""`Outbox`: frames go out in push order, at once while the transport has room, queued behind a send that has to
wait (a slow reader), and a dead socket never fails the pusher."""

from __future__ import annotations

import asyncio

from parley.realtime.hub import Outbox


class Transport:
    """A socket's send coroutine: suspends while `room` is clear, like uvicorn's send when the buffer is full."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.room = asyncio.Event()
        self.room.set()
        self.broken = False

    async def send(self, frame: str) -> None:
        await self.room.wait()
        if self.broken:
            raise RuntimeError("Cannot call 'send' once a close message has been sent.")
        self.sent.append(frame)


async def test_frames_are_written_during_push_while_there_is_room() -> None:
    transport = Transport()
    outbox = Outbox(transport.send)
    outbox.push("a")
    outbox.push("b")
    assert transport.sent == ["a", "b"]  # no task, no loop iteration needed
    await outbox.close()


async def test_frames_queue_behind_a_send_that_waits_and_keep_their_order() -> None:
    transport = Transport()
    outbox = Outbox(transport.send)
    outbox.push("a")
    transport.room.clear()
    outbox.push("b")  # suspends inside the send
    outbox.push("c")
    outbox.push("d")
    await asyncio.sleep(0)
    assert transport.sent == ["a"]
    transport.room.set()
    for _ in range(10):
        await asyncio.sleep(0)
    assert transport.sent == ["a", "b", "c", "d"]
    outbox.push("e")  # the backlog is gone: written at once again
    assert transport.sent == ["a", "b", "c", "d", "e"]
    await outbox.close()


async def test_a_broken_socket_never_raises_into_the_pusher() -> None:
    transport = Transport()
    outbox = Outbox(transport.send)
    transport.broken = True
    outbox.push("a")
    outbox.push("b")
    assert transport.sent == []
    transport.broken = False
    outbox.push("c")  # closed for good once a send failed
    assert transport.sent == []


async def test_close_cancels_a_waiting_send() -> None:
    transport = Transport()
    outbox = Outbox(transport.send)
    transport.room.clear()
    outbox.push("a")
    outbox.push("b")
    await asyncio.sleep(0)
    await outbox.close()
    transport.room.set()
    await asyncio.sleep(0)
    outbox.push("c")
    assert transport.sent == []


async def test_a_client_that_stops_reading_is_cut_off_at_the_backlog_limit() -> None:
    transport = Transport()
    overflowed: list[bool] = []
    outbox = Outbox(transport.send, overflow=lambda: overflowed.append(True), limit=3)
    transport.room.clear()
    outbox.push("a")  # suspends: the client reads nothing
    for frame in ("b", "c", "d"):
        outbox.push(frame)
    assert overflowed == []  # three frames behind: at the limit, still kept
    outbox.push("e")
    outbox.push("f")
    assert overflowed == [True]  # told once; the socket is to be closed, nothing more is kept for it
    transport.room.set()
    for _ in range(10):
        await asyncio.sleep(0)
    assert transport.sent == ["a"]
    await outbox.close()
