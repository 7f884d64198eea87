"""The raw ceiling for W3: a bare websocket broadcast server.

One process on uvicorn (uvloop, httptools) like parley's `serve`. Its websockets are bare asyncio protocols: the
`websockets` sans-I/O library does the handshake and parses the client's frames, and they speak just enough of
the `/rtc` dialect for the generator's receivers (the Engine.IO open packet, `40`, a `session:success` for any
login, pong for ping). One HTTP endpoint, `POST /cast {"text", "cid", "from"}`, encodes one frame of the same
shape and size as parley's pushed `text` event, wraps it in a websocket frame once and writes those bytes to
every logged-in socket's transport in a plain loop, before answering 201. No storage, no authentication, no
per-socket queue, no framework on the socket path: what is left is the cost of the machinery itself (an HTTP
request in, N transport writes out), so parley / raw says how much of the ceiling parley's own work leaves.

    python -m parleybench.rawcast --port 8123
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
from datetime import UTC, datetime
from typing import Any, cast

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from websockets.frames import Frame, Opcode
from websockets.http11 import Request as Handshake
from websockets.server import ServerProtocol

OPEN = "0" + orjson.dumps({"sid": "raw", "upgrades": [], "pingInterval": 25_000, "pingTimeout": 60_000}).decode()
SOCKETS: set[RawSocket] = set()  # the logged-in sockets the broadcast writes to


def framed(text: str) -> bytes:
    return Frame(Opcode.TEXT, text.encode()).serialize(mask=False, extensions=[])


class RawSocket(asyncio.Protocol):
    """uvicorn's `ws` protocol class here: one websocket, from the handshake uvicorn hands over to its end."""

    def __init__(self, config: Any, server_state: Any, app_state: Any, _loop: Any = None) -> None:
        self.server_state = server_state
        self.conn = ServerProtocol(max_size=config.ws_max_size)
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.server_state.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        SOCKETS.discard(self)
        self.server_state.connections.discard(self)

    def shutdown(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        self.conn.receive_data(data)
        for event in self.conn.events_received():
            if isinstance(event, Handshake):
                self.conn.send_response(self.conn.accept(event))
                self.send(OPEN)
                self.send("40")
            elif isinstance(event, Frame) and event.opcode is Opcode.TEXT:
                text = bytes(event.data).decode()
                if text.startswith('42["session:login"'):
                    self.send('42["session:success",{"rid":"login","body":{}}]')
                    SOCKETS.add(self)
                elif text.startswith("2"):
                    self.send("3" + text[1:])
        self.flush()

    def send(self, text: str) -> None:
        self.flush()
        if self.transport is not None:
            self.transport.write(framed(text))

    def flush(self) -> None:
        if self.transport is None:
            return
        for chunk in self.conn.data_to_send():
            if chunk:
                self.transport.write(chunk)
            else:
                self.transport.close()


def build() -> Starlette:
    ids = itertools.count(1)

    async def cast_text(request: Request) -> Response:
        body = orjson.loads(await request.body())
        event = {"id": next(ids), "type": "text", "cid": body["cid"], "body": {"text": body["text"]},
                 "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                 "from": body["from"]}
        frame = framed("42" + orjson.dumps(["text", event]).decode())
        for socket in list(SOCKETS):
            if socket.transport is not None and not socket.transport.is_closing():
                socket.transport.write(frame)
        return Response(orjson.dumps({"id": event["id"]}), status_code=201, media_type="application/json")

    async def health(request: Request) -> Response:
        return Response(orjson.dumps({"status": "ok", "sockets": len(SOCKETS)}), media_type="application/json")

    return Starlette(routes=[Route("/cast", cast_text, methods=["POST"]), Route("/health", health)])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(build(), host="127.0.0.1", port=args.port, log_level="warning", access_log=False,
                lifespan="off", ws=RawSocket, ws_max_size=1_000_000)


if __name__ == "__main__":
    main()
