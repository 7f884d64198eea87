"""The `/v2/rtc` session dialect (`@vonage/client-sdk` 1.x/2.x, nexmo-client 9.x): Engine.IO 4.

The token (and, when resuming, `session_id`) comes in the handshake query; no login message is sent. Once the
client connects the socket.io namespace, the first event it gets is `session:success {id, user_id, name,
api_key}` (the SDK gives up after 5 s or on any missing field), or a refusal it reports:
`system:error:invalid-token`, `system:error:expired-token` or `system:error:permission`, followed by a
socket.io DISCONNECT. Everything else the client does goes over REST; the socket carries the conversations'
events, pushed by the hub in the Conversation API's names (`message`, `message:seen`, `ephemeral`...).

Sessions outlive their socket (see `realtime/sessions.py`): events pushed while no socket is attached are kept,
and with `acknowledge_events=true` (what the SDKs send) every event goes out with a socket.io ack id and is kept
until the client acknowledges it. A client that reconnects with its `session_id` gets `session:success` and then
every kept event, in order: what it missed while away, and what was in flight when the socket dropped.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from parley.api import inapp
from parley.api.auth import Authenticator
from parley.api.dialect_map import as_modern
from parley.api.http.render import event_fields
from parley.api.socket import socketio
from parley.api.socket.engine import EngineSocket
from parley.api.socket.engineio import ProtocolError
from parley.api.socket.socketio import SocketPacket, SocketType
from parley.domain import ids
from parley.domain.errors import DomainError
from parley.domain.models import Event
from parley.domain.principal import Principal
from parley.realtime.hub import Hub
from parley.realtime.sessions import SessionRegistry

RESUME_GRACE_S = 120.0  # how long a session without a socket waits for its client to reconnect
MAX_KEPT_EVENTS = 1_000  # beyond this a returning client catches up with its own event fetch
MAX_SESSIONS_PER_USER = 32  # per process; the oldest session without a socket gives way to a new one
LOGIN_PATH = "/v1/sessions"  # what a token's ACL must allow to open a session (as on `/rtc`)
DISCONNECT = socketio.encode(SocketPacket(SocketType.DISCONNECT))
INTERNAL_ERROR = "system:error:internal-error"
log = logging.getLogger("parley")


class EphemeralFrame(str):
    """The frame of an event that is never stored (typing, `ephemeral`): sent as it is, never kept for a
    returning client nor numbered for acknowledgement (a stale typing indicator is worth nothing)."""


def encode_event(event: Event) -> str:
    """An event pushed in this dialect: the socket.io event named by its (Conversation API) type, with `cid`.
    A whole Engine.IO frame (`42[...]`), shared by every socket; `ClientSession` adds its ack id."""
    frame = "4" + socketio.encode(socketio.event(*event_message(event)))
    return frame if event.id else EphemeralFrame(frame)


def event_message(event: Event) -> tuple[str, dict[str, Any]]:
    modern = as_modern(event)
    payload = {**event_fields(modern), "cid": modern.conversation_id, "conversation_id": modern.conversation_id}
    if not modern.id:  # ephemeral events are never stored and have no id
        del payload["id"]
    return modern.type, payload


def encode_inapp_event(event: Event) -> str:
    """An event pushed to nexmo-client 9.x: under its In-App Messaging name (`text`, `text:seen`,
    `text:typing:on`...), `member:*` from the member it is about, as `/rtc` and `/beta2` show it."""
    payload = inapp.event_with_sender(event)
    frame = "4" + socketio.encode(socketio.event(payload["type"], payload))
    return frame if event.id else EphemeralFrame(frame)


def encoder_for(query: Mapping[str, str]) -> Callable[[Event], str]:
    """nexmo-client 9.x (the last `nexmo-client`, on `/v2/rtc` since 9.1.4) names no `SDK_name` and reports its
    own version; `@vonage/client-sdk` names itself (2.x) or has a version below 6 (1.x)."""
    major = query.get("SDK_version", "").split(".", 1)[0]
    if not query.get("SDK_name") and major.isdigit() and 6 <= int(major) <= 9:
        return encode_inapp_event
    return encode_event


def refusal_code(error: DomainError) -> str:
    """The names the SDK's session decoder knows (anything else would leave it waiting for its timeout)."""
    if error.code == "system:error:expired-token":
        return "system:error:expired-token"
    if error.code in ("system:error:permission", "session:error:max-open-sessions"):
        return error.code
    return "system:error:invalid-token"


@dataclass(eq=False)
class ClientSession:
    """One logged-in session: the hub's `Connection` and the registry's `LiveSession`. Its socket comes and
    goes; the events it could not deliver (or that are not acknowledged yet) wait in `_kept`."""

    id: str
    principal: Principal
    expires: float
    acknowledge: bool
    dialect: V2Dialect
    socket: EngineSocket | None = None
    encoder: Callable[[Event], str] = encode_event
    _kept: OrderedDict[int, str] = field(default_factory=OrderedDict)
    _last_ack_id: int = 0
    _grace: asyncio.TimerHandle | None = None
    _expiry: asyncio.TimerHandle | None = None
    ended: bool = False

    @property
    def application_id(self) -> str:
        return self.principal.application_id

    @property
    def user_id(self) -> str:
        assert self.principal.user is not None
        return self.principal.user.id

    @property
    def user_name(self) -> str:
        assert self.principal.user is not None
        return self.principal.user.name

    def push(self, frame: str) -> None:
        if isinstance(frame, EphemeralFrame):
            if self.socket is not None:
                self.socket.push(frame)
            return
        self._last_ack_id += 1
        if self.acknowledge or self.socket is None:
            self._keep(self._last_ack_id, frame)
        if self.socket is not None:
            self.socket.push(self._numbered(self._last_ack_id, frame))

    def acknowledged(self, ack_id: int) -> None:
        self._kept.pop(ack_id, None)

    def _keep(self, ack_id: int, frame: str) -> None:
        self._kept[ack_id] = frame
        if len(self._kept) > MAX_KEPT_EVENTS:
            self._kept.popitem(last=False)

    def _numbered(self, ack_id: int, frame: str) -> str:
        # `42[...]` -> `42<ack id>[...]`: the client acknowledges with `43<ack id>[]`
        return f"42{ack_id}{frame[2:]}" if self.acknowledge else frame

    # -- lifecycle ------------------------------------------------------------------------------------------
    def start(self) -> None:
        self.dialect.sessions.add(self)
        self.dialect.hub.attach(self)
        self._schedule_expiry()

    def attach(self, socket: EngineSocket) -> None:
        """A socket connected (first time, or resuming): `session:success` first, then what was kept."""
        if self.socket is not None and self.socket is not socket:
            self.socket.send(DISCONNECT)  # the same session opened elsewhere takes over
        if self._grace is not None:
            self._grace.cancel()
            self._grace = None
        self.socket = socket
        user = self.principal.user
        assert user is not None
        socket.send(socketio.encode(socketio.event("session:success", {"body": {
            "id": self.id, "user_id": user.id, "name": user.name, "api_key": self.application_id}})))
        for ack_id, frame in self._kept.items():
            socket.push(self._numbered(ack_id, frame))
        if not self.acknowledge:
            self._kept.clear()

    def detach(self, socket: EngineSocket) -> None:
        if self.socket is socket and not self.ended:
            self.socket = None
            self._grace = asyncio.get_running_loop().call_later(RESUME_GRACE_S, self.end)

    def extend(self, expires: float) -> None:
        self.expires = max(self.expires, expires)

    def end(self) -> None:
        if self.ended:
            return
        self.ended = True
        for timer in (self._grace, self._expiry):
            if timer is not None:
                timer.cancel()
        self.dialect.hub.detach(self)
        self.dialect.sessions.remove(self)
        if self.socket is not None:
            self.socket.send(DISCONNECT)
            self.socket = None

    def _schedule_expiry(self) -> None:
        delay = max(0.0, self.expires - time.time())
        self._expiry = asyncio.get_running_loop().call_later(delay, self._expired)

    def _expired(self) -> None:
        if self.expires > time.time():  # extended meanwhile
            self._schedule_expiry()
            return
        if self.socket is not None:
            self.socket.send(socketio.encode(socketio.event("system:error:expired-token", {
                "description": "The session's token has expired. Please provide a valid token."})))
        self.end()


Reply = tuple[str, dict[str, Any]]


@dataclass(eq=False)
class SocketSession:
    """One socket (the engine's `SocketHandler`): the session it carries, or why it was refused."""

    socket: EngineSocket
    dialect: V2Dialect
    session: ClientSession | None
    refusal: DomainError | None = None
    connected: bool = False

    async def message(self, data: str) -> None:
        try:
            packet = socketio.decode(data)
        except ProtocolError as error:
            self._send_event("system:error:invalid-event", {"description": str(error)})
            return
        if packet.namespace != socketio.DEFAULT_NAMESPACE:
            self.socket.send(socketio.encode(SocketPacket(
                SocketType.CONNECT_ERROR, {"message": "Invalid namespace"}, packet.namespace)))
        elif packet.type is SocketType.CONNECT:
            self._connect()
        elif packet.type is SocketType.ACK and self.session is not None and packet.ack_id is not None:
            self.session.acknowledged(packet.ack_id)
        elif packet.type is SocketType.EVENT:
            await self._request(packet)

    async def closed(self) -> None:
        if self.session is not None:
            self.session.detach(self.socket)

    def _connect(self) -> None:
        if self.connected:
            return
        self.connected = True
        self.socket.send(socketio.encode(SocketPacket(SocketType.CONNECT, {"sid": self.socket.id})))
        if self.session is not None:
            self.session.attach(self.socket)
            return
        error = self.refusal or DomainError("system:error:invalid-token", "No token.")
        self._send_event(refusal_code(error), {"code": error.code, "description": error.detail})
        self.socket.send(DISCONNECT)

    async def _request(self, packet: SocketPacket) -> None:
        name, payload = packet.data[0], (packet.data[1] if len(packet.data) > 1 else None)
        request = payload if isinstance(payload, dict) else {}
        rid = request.get("tid")
        session = self.session
        try:
            if session is None or session.ended or not self.connected:
                raise DomainError("session:invalid", "This socket has no session.")
            reply_type, reply = await self.dialect.request(session, name, request)
        except DomainError as error:
            reply_type, reply = error.code, {"type": error.code, "description": error.detail}
        except Exception:  # e.g. the database busy: the request fails, the socket stays
            log.exception("/v2/rtc request %s failed", name)
            reply_type, reply = INTERNAL_ERROR, {"type": INTERNAL_ERROR, "description": "Something went wrong."}
        reply = {"rid": rid, **reply}
        if packet.ack_id is not None:
            self.socket.send(socketio.encode(SocketPacket(SocketType.ACK, [{"type": reply_type, **reply}],
                                                          ack_id=packet.ack_id)))
        else:
            self._send_event(reply_type, reply)
        if reply_type == "session:logged-out" and session is not None:
            session.end()

    def _send_event(self, name: str, payload: dict[str, Any]) -> None:
        self.socket.send(socketio.encode(socketio.event(name, payload)))


class V2Dialect:
    engine_version = 4

    def __init__(self, authenticator: Authenticator, hub: Hub, sessions: SessionRegistry) -> None:
        self._auth = authenticator
        self.hub = hub
        self.sessions = sessions

    async def connected(self, socket: EngineSocket, query: Mapping[str, str]) -> SocketSession:
        try:
            principal, expires = await self.login(query.get("token", ""), socket.origin)
        except DomainError as error:
            return SocketSession(socket, self, None, error)
        except Exception:  # refused like a bad token, rather than dropped without a word
            log.exception("/v2/rtc session login failed")
            return SocketSession(socket, self, None, DomainError(INTERNAL_ERROR, "Something went wrong."))
        session = self._resumable(principal, query.get("session_id"))
        if session is None:
            try:
                self._make_room(principal)
            except DomainError as error:
                return SocketSession(socket, self, None, error)
            acknowledge = query.get("acknowledge_events", "").lower() == "true"
            session = ClientSession(ids.new_id(ids.SESSION), principal, expires, acknowledge, self,
                                    encoder=encoder_for(query))
            session.start()
        session.extend(expires)
        return SocketSession(socket, self, session)

    def _make_room(self, principal: Principal) -> None:
        """Sessions wait for their client after the socket drops; a user's count of them is capped."""
        mine = self.sessions.of_user(principal.application_id, _user_id(principal) or "")
        if len(mine) < MAX_SESSIONS_PER_USER:
            return
        idle = [s for s in mine if isinstance(s, ClientSession) and s.socket is None]
        if not idle:
            raise DomainError("session:error:max-open-sessions",
                              f"A user may have at most {MAX_SESSIONS_PER_USER} open sessions.")
        idle[0].end()

    async def login(self, token: str, origin: str | None) -> tuple[Principal, float]:
        """A user token's principal and the time its session expires (skew allowance included); `origin`, the
        socket's (when not the server's own), must be one the token's application allows."""
        if not token:
            raise DomainError("system:error:invalid-token", "The handshake query has no token.")
        grant = await self._auth.session(token, LOGIN_PATH, origin)
        return grant.principal, grant.expires

    def _resumable(self, principal: Principal, session_id: str | None) -> ClientSession | None:
        """The session a reconnecting client names, if it is still here and is this user's."""
        if not session_id:
            return None
        session = self.sessions.get(principal.application_id, session_id)
        if not isinstance(session, ClientSession) or session.ended or session.user_id != _user_id(principal):
            return None
        session.principal = principal  # a fresh token may carry a renamed user
        return session

    async def request(self, session: ClientSession, name: str, request: dict[str, Any]) -> Reply:
        if name == "session:logout":
            return "session:logged-out", {"body": {}}
        if name == "session:update-token":
            body = request.get("body") if isinstance(request.get("body"), dict) else {}
            await self.update_token(session, str(body.get("token", "")) if isinstance(body, dict) else "")
            return "session:update-token:success", {"body": {}}
        raise DomainError("system:error:invalid-event", f"Unknown or unsupported request '{name}'.")

    async def update_token(self, session: ClientSession, token: str) -> None:
        """A fresh token for the session's own user extends it (socket `session:update-token` or REST)."""
        principal, expires = await self.login(token, session.socket.origin if session.socket else None)
        if principal.application_id != session.application_id or _user_id(principal) != session.user_id:
            raise DomainError("system:error:invalid-token", "The token is not for this session's user.")
        session.principal = principal
        session.extend(expires)


def _user_id(principal: Principal) -> str | None:
    return principal.user.id if principal.user is not None else None
