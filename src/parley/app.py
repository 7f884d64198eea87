"""The composition root: the only module that picks concrete backends and wires them together."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route, WebSocketRoute

from parley.api.auth import Authenticator
from parley.api.cors import CORS, OriginPolicy, Origins
from parley.api.errors import error_body
from parley.api.http import beta, conversations, docs, events, media, members, sessions, users, v0_3
from parley.api.http.common import Context, JSONResponse
from parley.api.inapp import Services as InAppServices
from parley.api.socket.engine import Engine
from parley.api.socket.legacy import LegacyDialect
from parley.api.socket.native import SOCKETS, Sockets
from parley.api.socket.v2 import V2Dialect
from parley.domain.clock import Clock, SystemClock
from parley.domain.conversations import ConversationService
from parley.domain.errors import DomainError
from parley.domain.events import EventService
from parley.domain.media import MediaService
from parley.domain.members import MemberService
from parley.domain.ports import EventSink, Store
from parley.domain.push import PushService
from parley.domain.users import UserService
from parley.realtime.hub import Hub
from parley.realtime.sessions import SessionRegistry
from parley.settings import Settings
from parley.store.backend import ApplicationGone, PostgresBackend, SQLiteBackend, StoreBusy
from parley.store.migrate import migrate
from parley.store.sql import SQLStore

log = logging.getLogger("parley")


async def open_store(settings: Settings) -> Store:
    """Migrate the database to the newest schema, then open it."""
    url = settings.resolved_database_url()
    if settings.is_sqlite:
        settings.sqlite_path().parent.mkdir(parents=True, exist_ok=True)
    await asyncio.to_thread(migrate, url)  # Alembic runs its own event loop for asyncpg
    if settings.is_sqlite:
        return SQLStore(SQLiteBackend(settings.sqlite_path(), settings.sqlite_synchronous))
    return SQLStore(await PostgresBackend.connect(url))


@dataclass(frozen=True)
class Services:
    users: UserService
    conversations: ConversationService
    members: MemberService
    events: EventService
    media: MediaService
    push: PushService


def services(store: Store, settings: Settings, clock: Clock, sink: EventSink) -> Services:
    limits = settings.limits
    members = MemberService(store, clock, limits, sink)
    return Services(
        users=UserService(store, clock, limits, members),
        conversations=ConversationService(store, clock, limits, sink),
        members=members,
        events=EventService(store, clock, limits, sink),
        media=MediaService(store, clock),
        push=PushService(store, clock, limits),
    )


def http_routes(store: Store, settings: Settings, svc: Services, hub: Hub | None = None,
                sockets: dict[str, Engine] | None = None) -> list[BaseRoute]:
    """The application's routes; `sockets`, when given, gets the Engine of each socket path (what `parley serve`
    serves below ASGI, `api/socket/native.py`)."""
    hub = hub or Hub(store)
    authenticator = Authenticator(store, settings.clock_skew_seconds, settings.max_token_lifetime_seconds,
                                  key_cache_seconds=settings.key_cache_seconds, origins=origins(settings))
    ctx = Context(authenticator, settings.limits, settings.public_url)

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    inapp = InAppServices(svc.conversations, svc.members, svc.events, svc.users, svc.push)
    legacy = Engine(LegacyDialect(authenticator, inapp, hub))

    registry = SessionRegistry()
    v2 = Engine(V2Dialect(authenticator, hub, registry))

    # socket.io-client 2.x asks for `<path>/`; the Android SDK's path already ends in a slash.
    endpoints = {"/rtc/": legacy, "/rtc": legacy, "/v2/rtc/": v2, "/v2/rtc": v2}
    if sockets is not None:
        sockets.update(endpoints)

    # Routes are matched in order and none overlap: the busiest (events) go first.
    return [
        *events.routes(ctx, svc.events, settings.events_envelope),
        *members.routes(ctx, svc.members, svc.events),
        *conversations.routes(ctx, svc.conversations),
        *users.routes(ctx, svc.users, sessions=registry),
        *media.routes(ctx, svc.media),
        # the client SDKs' paths
        *v0_3.routes(ctx, svc.conversations, svc.members, svc.events, svc.users, registry),
        *sessions.routes(ctx, registry),
        *beta.routes(ctx, inapp),
        Route("/health", health, methods=["GET"]),
        *docs.routes(),
        # An HTTP route never matches a websocket handshake nor the reverse, so each socket path has one of each:
        # polling, websocket.
        *(Route(path, engine.http, methods=["GET", "POST"]) for path, engine in endpoints.items()),
        *(WebSocketRoute(path, engine.websocket) for path, engine in endpoints.items()),
    ]


async def domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DomainError)
    status, body = error_body(exc)
    return JSONResponse(body, status_code=status)


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = {404: "http:error:not-found", 405: "http:error:method-not-allowed"}.get(
        exc.status_code, "http:error:validation-fail")
    _, body = error_body(DomainError(code, str(exc.detail)))
    return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)


async def application_gone(request: Request, exc: Exception) -> Response:
    # The token verified against a cached key of an application deleted since (within the key cache TTL).
    _, body = error_body(DomainError("system:error:invalid-token", "The application no longer exists."))
    return JSONResponse(body, status_code=401)


async def store_busy(request: Request, exc: Exception) -> Response:
    _, body = error_body(DomainError("system:error:busy", "The database is busy. Please try again shortly."))
    return JSONResponse(body, status_code=503, headers={"retry-after": "1"})


async def internal_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    _, body = error_body(DomainError("system:error:internal-error", "Something went wrong."))
    return JSONResponse(body, status_code=500)


EXCEPTION_HANDLERS = {DomainError: domain_error, HTTPException: http_error, StoreBusy: store_busy,
                      ApplicationGone: application_gone, Exception: internal_error}


def build_app(store: Store, settings: Settings, clock: Clock | None = None, sink: EventSink | None = None,
              policy: OriginPolicy | None = None) -> Starlette:
    """The ASGI application over an open store (tests use this directly); `policy`: the CORS policy of the
    application that serves this one's routes (`create_app`)."""
    hub = Hub(store)
    svc = services(store, settings, clock or SystemClock(), sink or hub)
    engines: dict[str, Engine] = {}
    policy = policy or origin_policy(settings, store)
    app = Starlette(routes=http_routes(store, settings, svc, hub, engines), exception_handlers=EXCEPTION_HANDLERS,
                    middleware=middleware(policy))
    app.state.sockets = Sockets(engines, policy)
    return app


def origins(settings: Settings) -> Origins:
    return Origins(settings.cors_origins, settings.public_url)


def origin_policy(settings: Settings, store: Store | None = None) -> OriginPolicy:
    return OriginPolicy(origins(settings), settings.key_cache_seconds, store)


def middleware(policy: OriginPolicy) -> list[Middleware]:
    # Around the routes, so preflights are answered before routing and authentication.
    return [Middleware(CORS, policy=policy)]


def create_app(settings: Settings, clock: Clock | None = None) -> Starlette:
    """The served application: opens (and migrates) the store when the server starts, closes it at the end."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Sockets]]:
        store = await open_store(settings)
        policy.store = store
        inner = build_app(store, settings, clock, policy=policy)
        app.router.routes.extend(inner.router.routes)
        # The imports (SQLAlchemy, Alembic, typer...) leave ~80,000 long-lived objects; without this the first
        # full collection stalls a request for ~0.1 s, and later ones keep scanning them.
        gc.collect()
        gc.freeze()
        try:
            # the lifespan state reaches the server's websocket protocol (`native.py`) as well as requests
            yield {SOCKETS: inner.state.sockets}
        finally:
            await store.close()

    policy = origin_policy(settings)  # a bad PARLEY_CORS_ORIGINS stops the server before it starts
    return Starlette(lifespan=lifespan, exception_handlers=EXCEPTION_HANDLERS, middleware=middleware(policy))
