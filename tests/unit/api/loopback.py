"""A real uvicorn serving a test's application on a free loopback port, in the test's event loop."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from typing import Any

import uvicorn


@contextlib.asynccontextmanager
async def uvicorn_on_loopback(app: Any, **options: Any) -> AsyncIterator[tuple[uvicorn.Server, int]]:
    """The running server and its port; `options` are uvicorn's (`ws`, `ws_max_size`, ...)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=1, **options))
    task = asyncio.ensure_future(server.serve(sockets=[sock]))
    while not server.started:
        await asyncio.sleep(0.01)
    try:
        yield server, sock.getsockname()[1]
    finally:
        server.should_exit = True
        await task
