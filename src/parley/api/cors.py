"""Cross-origin access for browser apps served from another origin than the API (the usual case for the SDKs).

Which origins: the server's list, `PARLEY_CORS_ORIGINS`, comma-separated exact origins (`https://app.example.com`)
or `*` (the default); and each application's own list, if it has one (`parley app create --origin`, `parley app
origins`), which replaces the server's for that application. The server's own origin is always allowed.

Before authentication (a preflight carries no token) an origin gets CORS treatment if the server's list or any
application's list allows it. What an allowed origin gets:
- preflights (`OPTIONS` with `Access-Control-Request-Method`) are answered here, before any authentication,
  listing `Authorization` and `Content-Type` explicitly (the Fetch standard does not let `*` cover
  `Authorization`) plus whatever else the browser asks for, for GET, POST, PUT, PATCH and DELETE;
- every response names the origin itself, never `*`, with `Access-Control-Allow-Credentials: true`: engine.io-client
  3.x polls with `withCredentials` on, which a browser only accepts that way. parley reads no cookies, so a
  credentialed request gets exactly what an anonymous one would; the bearer token in the request decides.
- `Vary: Origin` on every response to a request with an `Origin`, allowed or not, so caches keep them apart.
A disallowed origin's preflight gets a 403 error body; its other requests are passed on without CORS headers (the
browser then hides the answer). WebSocket handshakes carry an `Origin` too: a disallowed one is refused (403)
before the application sees the socket. Requests without `Origin` (servers, the Node SDKs) are not concerned.

After authentication the calling application decides (`Authenticator`): a request whose `Origin` is not the
server's own must be allowed by the application's list, or by the server's when it has none, else it is refused
(403, `system:error:permission`); a socket is checked the same way when its token arrives.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterable
from itertools import chain
from urllib.parse import urlsplit

import orjson
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from parley.api.errors import error_body
from parley.domain.errors import DomainError
from parley.domain.ports import Store

ANY = "*"
METHODS = "GET, HEAD, POST, PUT, PATCH, DELETE"
ALWAYS_ALLOWED_HEADERS = ("Authorization", "Content-Type")
EXPOSED_HEADERS = "Location, Retry-After, Idempotent-Replayed"
MAX_AGE_S = "600"
APPLICATION_ORIGINS = "the application's origins (parley app origins)"
ORIGIN = re.compile(r"(?:[a-z][a-z0-9+.\-]*://[^\s/?#,]+|null)")
HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


def normalise(origin: str) -> str:
    return origin.strip().rstrip("/").lower()


def origin_list(entries: Iterable[str], source: str) -> tuple[str, ...]:
    """`entries` normalised, in order, without repeats; a ValueError naming `source` if one is not an origin."""
    normalised = tuple(dict.fromkeys(normalise(entry) for entry in entries if entry.strip()))
    bad = [e for e in normalised if e != ANY and not ORIGIN.fullmatch(e)]
    if bad:
        raise ValueError(f"{source}: not an origin (scheme://host[:port]) or '*': {', '.join(bad)}")
    return normalised


class Origins:
    """An allow list: `*`, or exact origins; the server's own origin (its Host, its public URL) always."""

    def __init__(self, allowed: Iterable[str], public_url: str | None = None,
                 source: str = "PARLEY_CORS_ORIGINS") -> None:
        entries = set(origin_list(allowed, source))
        self.any = ANY in entries
        self.exact = frozenset(entries - {ANY})
        self.source = source  # where the list is set, for error messages
        self.public_url = public_url
        if public_url:
            parts = urlsplit(public_url)
            self.exact |= {normalise(f"{parts.scheme}://{parts.netloc}")}

    def allows(self, origin: str, own: str | None) -> bool:
        """Whether `origin` gets CORS treatment; `own` is the server's origin as the request reached it."""
        origin = normalise(origin)
        if not ORIGIN.fullmatch(origin):
            return False  # not something a browser sends: never echoed back
        return self.any or origin in self.exact or origin == own

    def admits(self, origin: str) -> bool:
        """Whether an authenticated request from `origin` (not the server's own) is served: `*` serves any, even
        an origin it never echoes back, as before applications had lists of their own."""
        return self.any or self.allows(origin, None)

    def of_application(self, origins: Iterable[str] | None) -> Origins:
        """An application's list in place of this (server) one, None: this one; the server's origin stays."""
        if origins is None:
            return self
        return Origins(origins, self.public_url, source=APPLICATION_ORIGINS)


def own_origin(host: str | None, scheme: str) -> str | None:
    """The server's origin as a request reached it (its Host header): always allowed. A websocket's own origin
    is the HTTP one its page came from."""
    scheme = {"ws": "http", "wss": "https"}.get(scheme, scheme)
    return normalise(f"{scheme}://{host}") if host else None


def cross_origin(origin: str | None, host: str | None, scheme: str) -> str | None:
    """A request's `Origin` when it is another than the server's own (which is always allowed), else None."""
    if origin is None or normalise(origin) == own_origin(host, scheme):
        return None
    return origin


class OriginPolicy:
    """Which origins get CORS treatment before authentication: the server's list, or any application's own.

    The union of the applications' lists is re-read from the store every `ttl` seconds, only when the server's
    list does not already allow an origin: applications change through the CLI, in another process, so a change
    reaches browsers within `ttl`, like the key cache's (`auth.py`)."""

    def __init__(self, server: Origins, ttl: float, store: Store | None = None) -> None:
        self.server = server
        self.store = store  # set once the store is open (`create_app` opens it when the server starts)
        self._ttl = ttl
        self._applications = Origins(())
        self._read_until = -math.inf

    def cached(self, origin: str, own: str | None) -> bool | None:
        """The verdict without reading the store; None when the applications' lists are due to be re-read."""
        if self.server.allows(origin, own):
            return True
        if self.store is not None and time.monotonic() >= self._read_until:
            return None
        return self._applications.allows(origin, own)

    async def allows(self, origin: str, own: str | None) -> bool:
        verdict = self.cached(origin, own)
        if verdict is None:
            await self._read()
            verdict = self._applications.allows(origin, own)
        return verdict

    async def _read(self) -> None:
        assert self.store is not None
        now = time.monotonic()
        lists = [a.origins for a in await self.store.applications() if a.origins is not None]
        self._applications = Origins(chain.from_iterable(lists), source="applications' origins")
        self._read_until = now + self._ttl


class CORS:
    """ASGI middleware applying an `OriginPolicy` to HTTP requests and WebSocket handshakes."""

    def __init__(self, app: ASGIApp, policy: OriginPolicy) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        if origin is None:
            await self.app(scope, receive, send)
            return
        allowed = await self.policy.allows(origin, own_origin(headers.get("host"), str(scope.get("scheme", "http"))))
        if scope["type"] == "websocket":
            if allowed:
                await self.app(scope, receive, send)
            else:
                await receive()  # websocket.connect
                await send({"type": "websocket.close", "code": 1008})  # before accepting: an HTTP 403
            return
        if scope["method"] == "OPTIONS" and "access-control-request-method" in headers:
            await _preflight(origin if allowed else None, headers, send)
            return
        await self.app(scope, receive, _with_cors_headers(send, origin if allowed else None))


async def _preflight(origin: str | None, headers: Headers, send: Send) -> None:
    vary = "Origin, Access-Control-Request-Method, Access-Control-Request-Headers"
    if origin is None:
        status, body = error_body(DomainError(
            "system:error:permission", "This origin may not use the API (PARLEY_CORS_ORIGINS, parley app origins)."))
        await _respond(send, status, {"content-type": "application/json", "vary": vary}, orjson.dumps(body))
        return
    requested = [name.strip() for name in headers.get("access-control-request-headers", "").split(",")]
    names = list(ALWAYS_ALLOWED_HEADERS)
    names += [n for n in requested if HEADER_NAME.fullmatch(n) and n.lower() not in {x.lower() for x in names}]
    await _respond(send, 204, {
        "access-control-allow-origin": origin, "access-control-allow-credentials": "true",
        "access-control-allow-methods": METHODS, "access-control-allow-headers": ", ".join(names),
        "access-control-max-age": MAX_AGE_S, "vary": vary}, b"")


async def _respond(send: Send, status: int, headers: dict[str, str], body: bytes) -> None:
    raw = [(k.encode(), v.encode()) for k, v in {**headers, "content-length": str(len(body))}.items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


def _with_cors_headers(send: Send, origin: str | None) -> Send:
    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = MutableHeaders(scope=message)
            headers.add_vary_header("Origin")
            if origin is not None:
                headers["access-control-allow-origin"] = origin
                headers["access-control-allow-credentials"] = "true"
                headers["access-control-expose-headers"] = EXPOSED_HEADERS
        await send(message)

    return sending
