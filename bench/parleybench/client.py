"""A lean HTTP/1.1 keep-alive client (standard library `http.client`) that only ever talks to 127.0.0.1.

Client and server share the machine's cores, so the generator stays small: one persistent connection per
client, one token per client, no retries.
"""

from __future__ import annotations

import http.client
import json
import socket
import time
import uuid
from typing import Any
from urllib.parse import urlsplit

import jwt

try:  # the server's own dependency; parsing is on the clock in W4, so take the fast one when it is there
    import orjson

    def loads(data: bytes) -> Any:
        return orjson.loads(data)

    JSON_LIB = "orjson"
except ImportError:  # pragma: no cover - the venv has orjson
    def loads(data: bytes) -> Any:
        return json.loads(data)

    JSON_LIB = "json"

HOST = "127.0.0.1"
TIMEOUT_S = 30.0
USER_AGENT = "parley-bench/1"
TRANSPORT_ERRORS = (OSError, http.client.HTTPException)
STALE_AFTER_S = 1.0  # uvicorn closes idle keep-alive connections after 5 s; setup calls reconnect well before


class HTTPError(Exception):
    def __init__(self, method: str, path: str, status: int, body: bytes) -> None:
        super().__init__(f"{method} {path} -> {status}: {body[:300]!r}")
        self.status = status


def mint_token(app_id: str, private_key_pem: str, sub: str | None = None, ttl_s: int = 3600) -> str:
    """An RS256 token with the claims the Vonage tools put in: application_id, iat, jti, exp (+ sub for a user)."""
    now = int(time.time())
    claims: dict[str, Any] = {"application_id": app_id, "iat": now, "jti": str(uuid.uuid4()), "exp": now + ttl_s}
    if sub is not None:
        claims["sub"] = sub
    return jwt.encode(claims, private_key_pem, algorithm="RS256", headers={"typ": "JWT"})


def local_path(href: str, port: int) -> str:
    """The path+query of an absolute link the server handed out; refuses any other host or port."""
    parts = urlsplit(href)
    if parts.scheme not in ("", "http") or (parts.hostname or HOST) != HOST or (parts.port or port) != port:
        raise ValueError(f"refusing to follow a link off 127.0.0.1:{port}: {href}")
    return parts.path + (f"?{parts.query}" if parts.query else "")


class Client:
    """One user's keep-alive connection and token."""

    def __init__(self, port: int, token: str) -> None:
        self.port = port
        self.token = token
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json",
                        "User-Agent": USER_AGENT}
        self.connection = http.client.HTTPConnection(HOST, port, timeout=TIMEOUT_S)
        self.last_used = time.monotonic()

    def reconnect(self, now: bool = False) -> None:
        """A new connection (opened right away when `now`, else on the next request)."""
        self.connection.close()
        self.connection = http.client.HTTPConnection(HOST, self.port, timeout=TIMEOUT_S)
        if now:
            self.connection.connect()
        self.last_used = time.monotonic()

    def raw(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        """One request; the response is read completely. Transport errors propagate."""
        self.connection.request(method, path, body, self.headers)
        response = self.connection.getresponse()
        return response.status, response.read()

    def call(self, method: str, path: str, payload: Any = None, expect: tuple[int, ...] = (200, 201)) -> Any:
        """A JSON request for setup work: raises on an unexpected status."""
        body = None if payload is None else json.dumps(payload).encode()
        if time.monotonic() - self.last_used > STALE_AFTER_S:
            self.reconnect()
        status, data = self.raw(method, path, body)
        self.last_used = time.monotonic()
        if status not in expect:
            raise HTTPError(method, path, status, data)
        return loads(data) if data else None

    def close(self) -> None:
        self.connection.close()


class RawSender:
    """The leanest keep-alive HTTP/1.1 client for a hot loop: pre-built request bytes over one socket.

    Handles exactly what uvicorn answers here: a status line, headers with Content-Length, a body. Anything else
    (chunked bodies, a closed connection) raises, and the caller counts an error and reconnects.
    """

    def __init__(self, port: int, token: str) -> None:
        self.port = port
        self._head = (f"Host: {HOST}:{port}\r\nAuthorization: Bearer {token}\r\nUser-Agent: {USER_AGENT}\r\n"
                      "Content-Type: application/json\r\n").encode()
        self._sock: socket.socket | None = None
        self._buffer = b""

    def connect(self) -> None:
        self.close()
        sock = socket.create_connection((HOST, self.port), timeout=TIMEOUT_S)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock = sock
        self._buffer = b""

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def request_bytes(self, method: str, path: str, body: bytes) -> bytes:
        return (f"{method} {path} HTTP/1.1\r\n".encode() + self._head
                + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)

    def exchange(self, request: bytes) -> tuple[int, bytes]:
        """Send one prepared request, read its whole response: (status, body)."""
        if self._sock is None:
            self.connect()
        sock = self._sock
        assert sock is not None
        sock.sendall(request)
        buffer = self._buffer
        while (end := buffer.find(b"\r\n\r\n")) < 0:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("server closed the connection")
            buffer += chunk
            if len(buffer) > 1_000_000:
                raise ConnectionError("no end of headers")
        head = buffer[:end].decode("latin-1").split("\r\n")
        status = int(head[0].split(" ", 2)[1])
        length = -1
        for line in head[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        if length < 0:
            raise http.client.HTTPException("response without Content-Length")
        start = end + 4
        while len(buffer) < start + length:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("server closed the connection")
            buffer += chunk
        self._buffer = buffer[start + length:]
        return status, buffer[start:start + length]
