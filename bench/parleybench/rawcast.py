"""The raw ceiling for W3: a bare websocket broadcast server on parley's own websocket stack.

One process, uvicorn + Starlette with the websocket options parley's `serve` uses. It speaks just enough of the
`/rtc` dialect for the generator's receivers (the Engine.IO open packet, `40`, a `session:success` for any
login, pong for ping) and has one HTTP endpoint, `POST /cast {"text", "cid", "from"}`, which encodes one frame
of the same shape and size as parley's pushed `text` event and writes it to every connected socket in a plain
loop, before answering 201. No storage, no authentication, no per-socket queue: what is left is the cost of the
stack itself (HTTP request in, N websocket frames out), so parley / raw says how much of the ceiling parley's
own work leaves.

    python -m parleybench.rawcast --port 8123
"""

from __future__ import annotations

import argparse
import itertools
from datetime import UTC, datetime
from typing import Any

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

OPEN = "0" + orjson.dumps({"sid": "raw", "upgrades": [], "pingInterval": 25_000, "pingTimeout": 60_000}).decode()


def websocket_options() -> dict[str, Any]:
    """parley's own uvicorn websocket options, so both servers run the same stack the same way."""
    try:
        from parley.cli.main import uvicorn_websocket_options
    except ImportError:  # a parley build from before the options were named
        return {}
    return dict(uvicorn_websocket_options())


def build() -> Starlette:
    sockets: set[WebSocket] = set()
    ids = itertools.count(1)

    async def rtc(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text(OPEN)
        await websocket.send_text("40")
        try:
            while True:
                frame = await websocket.receive_text()
                if frame.startswith('42["session:login"'):
                    await websocket.send_text('42["session:success",{"rid":"login","body":{}}]')
                    sockets.add(websocket)
                elif frame.startswith("2"):
                    await websocket.send_text("3" + frame[1:])
        except WebSocketDisconnect:
            pass
        finally:
            sockets.discard(websocket)

    async def cast(request: Request) -> Response:
        body = orjson.loads(await request.body())
        event = {"id": next(ids), "type": "text", "cid": body["cid"], "body": {"text": body["text"]},
                 "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                 "from": body["from"]}
        frame = "42" + orjson.dumps(["text", event]).decode()
        for websocket in list(sockets):
            try:
                await websocket.send_text(frame)
            except (WebSocketDisconnect, RuntimeError):
                sockets.discard(websocket)
        return Response(orjson.dumps({"id": event["id"]}), status_code=201, media_type="application/json")

    async def health(request: Request) -> Response:
        return Response(orjson.dumps({"status": "ok", "sockets": len(sockets)}), media_type="application/json")

    return Starlette(routes=[Route("/cast", cast, methods=["POST"]), Route("/health", health),
                             WebSocketRoute("/rtc/", rtc), WebSocketRoute("/rtc", rtc)])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(build(), host="127.0.0.1", port=args.port, log_level="warning", access_log=False,
                lifespan="off", **websocket_options())


if __name__ == "__main__":
    main()
