"""The In-App Messaging socket-RPC dialect on `/rtc` (nexmo-client <= 4.x): Engine.IO 3 over a websocket.

Every request is a socket.io event `[<type>, {tid, cid?, from?, body?}]`; the reply is the event
`<type>:success` (login: `session:success`) or an error event, carrying `rid` = the request's `tid`.
So far: the websocket transport, ping/pong, `session:login`, `session:logout`, `user:conversations`; every
other request gets an error reply and the socket stays healthy. (The polling transport, the conversation
requests and the pushed events are the rest of issue 4.)
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.websockets import WebSocket, WebSocketDisconnect

from parley.api.auth import Authenticator
from parley.api.socket import socketio
from parley.api.socket.engineio import Packet, PacketType, ProtocolError, decode_packet, encode_packet
from parley.domain.conversations import ConversationService
from parley.domain.errors import DomainError
from parley.domain.paging import PageRequest
from parley.domain.principal import Principal

PING_INTERVAL_MS = 25_000
PING_TIMEOUT_MS = 60_000


@dataclass
class Session:
    """One logged-in socket."""

    id: str = field(default_factory=lambda: f"SES-{uuid.uuid4()}")
    principal: Principal | None = None


Reply = tuple[str, dict[str, Any]]
Handler = Callable[[Session, dict[str, Any]], Awaitable[Reply]]


class LegacyDialect:
    def __init__(self, authenticator: Authenticator, conversations: ConversationService) -> None:
        self._auth = authenticator
        self._conversations = conversations
        self._handlers: dict[str, Handler] = {
            "session:login": self._login,
            "session:logout": self._logout,
            "user:conversations": self._user_conversations,
        }

    async def serve(self, websocket: WebSocket) -> None:
        """One client connection: the Engine.IO 3 handshake, then requests until it goes."""
        if websocket.query_params.get("EIO") != "3" or websocket.query_params.get("transport") != "websocket":
            await websocket.close(code=1002)
            return
        await websocket.accept()
        session = Session()
        opening = {"sid": session.id, "upgrades": [], "pingInterval": PING_INTERVAL_MS,
                   "pingTimeout": PING_TIMEOUT_MS}
        await websocket.send_text(encode_packet(Packet(PacketType.OPEN, orjson.dumps(opening).decode())))
        await websocket.send_text("40")  # socket.io 2.x: the server connects the default namespace itself
        try:
            while True:
                frame = await websocket.receive_text()
                if not await self._frame(websocket, session, frame):
                    return
        except WebSocketDisconnect:
            return

    async def _frame(self, websocket: WebSocket, session: Session, frame: str) -> bool:
        """Handle one frame; False when the client closed the Engine.IO session."""
        try:
            packet = decode_packet(frame)
        except ProtocolError:
            return True  # not Engine.IO at all: ignore it, keep the socket
        if packet.type is PacketType.PING:  # in Engine.IO 3 the client pings
            await websocket.send_text(encode_packet(Packet(PacketType.PONG, packet.data)))
        elif packet.type is PacketType.CLOSE:
            await websocket.close()
            return False
        elif packet.type is PacketType.MESSAGE:
            reply = await self._message(session, packet.data)
            if reply is not None:
                await websocket.send_text("4" + socketio.encode(socketio.event(*reply)))
        return True

    async def _message(self, session: Session, text: str) -> Reply | None:
        try:
            packet = socketio.decode(text)
        except ProtocolError as error:
            return "system:error:invalid-event", {"description": str(error)}
        if packet.type is not socketio.SocketType.EVENT:
            return None
        name, payload = packet.data[0], (packet.data[1] if len(packet.data) > 1 else None)
        request = payload if isinstance(payload, dict) else {}
        rid = request.get("tid")
        handler = self._handlers.get(name)
        if handler is None:
            return _error(rid, "system:error:invalid-event", f"Unknown or unsupported request '{name}'.")
        try:
            reply_type, reply = await handler(session, request)
        except DomainError as error:
            return _error(rid, _session_code(error.code) if name == "session:login" else error.code, error.detail)
        return reply_type, {"rid": rid, **reply}

    async def _login(self, session: Session, request: dict[str, Any]) -> Reply:
        body = request.get("body") if isinstance(request.get("body"), dict) else {}
        token = body.get("token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise DomainError("system:error:invalid-token", "session:login needs a token.")
        principal = await self._auth.principal(f"Bearer {token}", "GET", "/v1/sessions")
        if principal.user is None:
            raise DomainError("system:error:invalid-token", "A login token names its user in the sub claim.")
        session.principal = principal
        user = principal.user
        return "session:success", {"body": {"id": session.id, "user_id": user.id, "name": user.name}}

    async def _logout(self, session: Session, request: dict[str, Any]) -> Reply:
        session.principal = None
        return "session:logged-out", {"body": {}}

    async def _user_conversations(self, session: Session, request: dict[str, Any]) -> Reply:
        principal = _logged_in(session)
        assert principal.user is not None
        listed: list[dict[str, Any]] = []
        page_request: PageRequest | None = PageRequest(size=100)
        while page_request is not None:
            page = await self._conversations.list_of_user(principal, principal.user.id, page_request)
            listed.extend({"id": c.id, "name": c.name, "display_name": c.display_name, "member_id": m.id,
                           "state": m.state.value, "timestamp": {"created": c.created},
                           "sequence_number": c.sequence_number} for c, m in page.items)
            page_request = page.next
        return "user:conversations:success", {"body": listed}


def _logged_in(session: Session) -> Principal:
    if session.principal is None:
        raise DomainError("session:invalid", "Log in first (session:login).")
    return session.principal


def _session_code(code: str) -> str:
    """Login failures use the session's own error names, which the SDKs know."""
    return "session:error:expired-token" if code == "system:error:expired-token" else "session:error:invalid-token"


def _error(rid: Any, code: str, detail: str) -> Reply:
    return code, {"rid": rid, "type": code, "description": detail}
