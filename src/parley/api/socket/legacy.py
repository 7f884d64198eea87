"""The In-App Messaging socket-RPC dialect on `/rtc` (nexmo-client <= 4.x, nexmo-conversation 0.1.x): Engine.IO 3.

Every request is a socket.io event `[<type>, {tid, cid?, from?, body?}]`; the reply is the event
`<type>:success` (login: `session:success`) or an error event, carrying `rid` = the request's `tid`.
Served: every request of the reference's table (session, user, conversation, member, text, image, typing,
receipt and event requests, and the Android SDK's `push:*`), each checked against the token's ACL as the REST
request it stands for; unknown requests get an error reply and the socket stays healthy. Events reach the
socket through the hub under their In-App Messaging names (`inapp.event`); the transports, websocket and
polling, are the engine's.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from parley.api import inapp
from parley.api.auth import Authenticator, SessionGrant
from parley.api.http.events import MAX_KEY_CHARS
from parley.api.inapp import Services, every_page
from parley.api.socket import socketio
from parley.api.socket.engine import EngineSocket
from parley.api.socket.engineio import ProtocolError
from parley.domain.errors import DomainError, forbidden, invalid
from parley.domain.models import Event
from parley.domain.paging import PageRequest
from parley.domain.principal import Principal
from parley.domain.validate import event_id_value, optional_str
from parley.realtime.hub import Hub

INTERNAL_ERROR = "system:error:internal-error"
log = logging.getLogger("parley")


def encode_event(event: Event) -> str:
    """An event pushed in this dialect: the socket.io event named by its type. A whole Engine.IO frame, so the
    hub can share it between sockets."""
    payload = inapp.event(event)
    return "4" + socketio.encode(socketio.event(payload["type"], payload))


@dataclass(eq=False)
class Session:
    """One socket (the hub's `Connection` and the engine's `SocketHandler`): its Engine.IO session, and once
    logged in, its user (the hub then routes events to it)."""

    socket: EngineSocket
    dialect: LegacyDialect
    application_id: str = ""
    user_id: str = ""
    login_device: dict[str, Any] = field(default_factory=dict)  # the login's device_id, device_type (Android)
    encoder: Callable[[Event], str] = encode_event
    grant: SessionGrant | None = None  # the live token's: None when logged out or expired
    ended: bool = False  # the socket closed: nothing attaches it to the hub any more
    _expiry: asyncio.TimerHandle | None = None

    def log_in(self, grant: SessionGrant) -> None:
        """Start (or extend, on session:update-token) the session; when its token expires the hub stops
        routing events to it and the client is told, so it can send session:update-token."""
        principal = grant.principal
        assert principal.user is not None
        self.log_out()
        if self.ended:  # closed while the token was checked (a polling session can close mid-request)
            return
        self.grant, self.application_id, self.user_id = grant, principal.application_id, principal.user.id
        self.dialect.hub.attach(self)
        delay = max(0.0, grant.expires - time.time())
        self._expiry = asyncio.get_running_loop().call_later(delay, self._expire)

    def log_out(self) -> None:
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None
        if self.grant is not None:
            self.dialect.hub.detach(self)
        self.grant = None

    def _expire(self) -> None:
        self._expiry = None
        if self.grant is not None:
            self.dialect.hub.detach(self)
            self.grant = None  # user_id stays: later requests are told the token expired
            self.socket.send(socketio.encode(socketio.event(
                "session:error:expired-token", {"type": "session:error:expired-token",
                                                "description": "The session's token has expired."})))

    @property
    def principal(self) -> Principal | None:
        return self.grant.principal if self.grant is not None else None

    @property
    def id(self) -> str:
        return f"SES-{self.socket.id}"

    def push(self, frame: str) -> None:
        self.socket.push(frame)

    async def message(self, data: str) -> None:
        reply = await self.dialect.request(self, data)
        if reply is not None:
            self.socket.send(socketio.encode(socketio.event(*reply)))

    async def closed(self) -> None:
        self.ended = True
        self.log_out()


Reply = tuple[str, dict[str, Any]]
Handler = Callable[[Session, dict[str, Any]], Awaitable[Reply]]


class LegacyDialect:
    def __init__(self, authenticator: Authenticator, services: Services, hub: Hub) -> None:
        self._auth = authenticator
        self._svc = services
        self.hub = hub
        self._handlers: dict[str, Handler] = {
            "session:login": self._login_on_device,
            "session:logout": self._logout,
            "session:update-token": self._update_token,
            "conversation:delete": self._conversation_delete,
            "user:conversations": self._user_conversations,
            "user:get": self._user_get,
            "new:conversation": self._new_conversation,
            "conversation:get": self._conversation_get,
            "conversation:join": self._join,
            "conversation:invite": self._invite,
            "conversation:member:delete": self._member_delete,
            "conversation:events": self._conversation_events,
            "text": self._event,
            "text:typing:on": self._event,
            "text:typing:off": self._event,
            "text:delivered": self._event,
            "text:seen": self._event,
            "event:delete": self._event_delete,
            "image": self._event,
            "image:delivered": self._event,
            "image:seen": self._event,
            "push:register": self._push,
            "push:unregister": self._push,
            "push:subscribe": self._push,
            "push:unsubscribe": self._push,
        }

    engine_version = 3

    async def connected(self, socket: EngineSocket, query: Mapping[str, str]) -> Session:
        socket.send("0")  # socket.io 2.x: the server connects the default namespace itself
        return Session(socket, self)

    async def request(self, session: Session, text: str) -> Reply | None:
        """One socket.io packet from the client: a request, answered with its reply (or an error reply)."""
        try:
            packet = socketio.decode(text)
        except ProtocolError as error:
            return "system:error:invalid-event", {"description": str(error)}
        if packet.type is not socketio.SocketType.EVENT:
            return None
        name, payload = packet.data[0], (packet.data[1] if len(packet.data) > 1 else None)
        request = payload if isinstance(payload, dict) else {}
        rid = request.get("tid")
        request = {**request, "_type": name}
        handler = self._handlers.get(name)
        if handler is None:
            return _error(rid, "system:error:invalid-event", f"Unknown or unsupported request '{name}'.")
        try:
            _check_ids(request)
            _check_acl(session, name, request)
            reply_type, reply = await handler(session, request)
        except DomainError as error:
            code = _session_code(error.code) if name in SESSION_REQUESTS else error.code
            return _error(rid, code, error.detail)
        except Exception:  # e.g. the database busy: the request fails, the socket stays
            log.exception("/rtc request %s failed", name)
            return _error(rid, INTERNAL_ERROR, "Something went wrong.")
        return reply_type, {"rid": rid, **reply}

    async def _login(self, session: Session, request: dict[str, Any]) -> Reply:
        grant = await self._auth.session(_token(request), "/v1/sessions", session.socket.origin)
        session.log_in(grant)
        assert grant.principal.user is not None
        user = grant.principal.user
        return "session:success", {"body": {"id": session.id, "user_id": user.id, "name": user.name}}

    async def _update_token(self, session: Session, request: dict[str, Any]) -> Reply:
        """Extend a live session with a new token of the same user (also revives one whose token expired)."""
        if session.user_id == "":
            raise DomainError("session:invalid", "Log in first (session:login).")
        grant = await self._auth.session(_token(request), "/v1/sessions", session.socket.origin)
        user = grant.principal.user
        assert user is not None
        if (grant.principal.application_id, user.id) != (session.application_id, session.user_id):
            raise DomainError("system:error:invalid-token", "The new token is for another user.")
        session.log_in(grant)
        return "session:update-token:success", {"body": {}}

    async def _logout(self, session: Session, request: dict[str, Any]) -> Reply:
        session.log_out()
        session.user_id = ""
        return "session:logged-out", {"body": {}}

    async def _user_conversations(self, session: Session, request: dict[str, Any]) -> Reply:
        principal = _logged_in(session)
        assert principal.user is not None
        user_id = principal.user.id
        rows = await every_page(lambda r: self._svc.conversations.list_of_user(principal, user_id, r),
                                PageRequest(size=100))
        listed = []
        for c, m in rows:
            unread = (await self._svc.events.state_of(c, m, m)).unread_count  # its own: nothing to re-read
            listed.append({**inapp.user_conversation(c, m), "unread_count": unread})
        return "user:conversations:success", {"body": listed}

    async def _user_get(self, session: Session, request: dict[str, Any]) -> Reply:
        body = _body(request)
        user = await self._svc.users.get(_logged_in(session), str(body.get("user_id", "")))
        return "user:get:success", {"body": {"id": user.id, "name": user.name, "display_name": user.display_name,
                                             "image_url": user.image_url}}

    async def _new_conversation(self, session: Session, request: dict[str, Any]) -> Reply:
        created = await self._svc.conversations.create(_logged_in(session), _body(request))
        return "new:conversation:success", {"body": {"id": created.id, "name": created.name,
                                                     "timestamp": {"created": created.created}}}

    async def _conversation_get(self, session: Session, request: dict[str, Any]) -> Reply:
        principal, cid = _logged_in(session), str(request.get("cid", ""))
        conversation = await self._svc.conversations.get(principal, cid)
        members = await every_page(lambda r: self._svc.members.list(principal, cid, r), PageRequest(size=100))
        return "conversation:get:success", {"cid": cid, "body": inapp.conversation(conversation, members)}

    async def _join(self, session: Session, request: dict[str, Any]) -> Reply:
        principal, cid, body = _logged_in(session), str(request.get("cid", "")), _body(request)
        if isinstance(body.get("member_id"), str):  # accepting an invitation
            member = await self._svc.members.update(principal, cid, body["member_id"], {"state": "joined"})
        else:
            member = await self._svc.members.create(principal, cid, {
                "state": "joined", "user": _user_spec(body), "channel": {"type": "app"}})
        return "conversation:join:success", {"cid": cid, "body": inapp.member(member)}

    async def _invite(self, session: Session, request: dict[str, Any]) -> Reply:
        principal, cid, body = _logged_in(session), str(request.get("cid", "")), _body(request)
        member = await self._svc.members.create(principal, cid, {
            "state": "invited", "user": _user_spec(body), "channel": {"type": "app"},
            "media": body.get("media") if isinstance(body.get("media"), dict) else {}})
        return "conversation:invite:success", {"cid": cid, "body": inapp.member(member)}

    async def _member_delete(self, session: Session, request: dict[str, Any]) -> Reply:
        principal, cid, body = _logged_in(session), str(request.get("cid", "")), _body(request)
        member = await self._svc.members.update(principal, cid, str(body.get("member_id", "")), {"state": "left"})
        return "conversation:member:delete:success", {"cid": cid, "body": inapp.member(member)}

    async def _conversation_events(self, session: Session, request: dict[str, Any]) -> Reply:
        """History (the client cache and a reconnecting client ask for `start_id`/`end_id` ranges): every event
        of the range in order, each text/image with its receipt maps. `complete: false` says that the range
        could not be served in full (the caller's membership ended at `served_up_to`)."""
        principal, cid, body = _logged_in(session), str(request.get("cid", "")), _body(request)
        filters = {k: str(body[k]) for k in ("start_id", "end_id") if body.get(k) is not None}
        events: list[Event] = []
        page_request: PageRequest | None = PageRequest(size=100, filters=filters)
        complete, served_up_to = True, None
        while page_request is not None:
            history = await self._svc.events.history(principal, cid, page_request, receipts=True)
            events.extend(history.page.items)
            complete, served_up_to = history.complete, history.served_up_to
            page_request = history.page.next
        reply: dict[str, Any] = {"cid": cid, "body": [inapp.event(e) for e in events], "complete": complete}
        if not complete:
            reply["served_up_to"] = served_up_to
        return "conversation:events:success", reply

    async def _conversation_delete(self, session: Session, request: dict[str, Any]) -> Reply:
        cid = str(request.get("cid", ""))
        await self._svc.conversations.delete(_logged_in(session), cid)
        return "conversation:delete:success", {"cid": cid, "body": {}}

    async def _event(self, session: Session, request: dict[str, Any]) -> Reply:
        """`text`, typing, receipts: one event of the request's own type. The `tid` makes a retry idempotent."""
        principal, cid = _logged_in(session), str(request.get("cid", ""))
        name = str(request.get("_type"))
        payload = {"type": name, "from": request.get("from"), "body": _body(request)}
        # the idempotency key, held to the REST one's rules (length, no NUL: PostgreSQL refuses it)
        tid = optional_str(request, "tid", MAX_KEY_CHARS) if isinstance(request.get("tid"), str) else None
        created = await self._svc.events.create(principal, cid, payload, tid)
        return f"{name}:success", {"cid": cid, "body": {"id": created.event.id,
                                                        "timestamp": created.event.timestamp}}

    async def _event_delete(self, session: Session, request: dict[str, Any]) -> Reply:
        principal, cid = _logged_in(session), str(request.get("cid", ""))
        event_id = event_id_value(_body(request).get("event_id"), "body.event_id")
        await self._svc.events.delete(principal, cid, event_id)
        return "event:delete:success", {"cid": cid, "body": {"event_id": event_id}}

    async def _login_on_device(self, session: Session, request: dict[str, Any]) -> Reply:
        """`session:login`; the Android SDK's login also names its device, which `push:register` registers."""
        reply = await self._login(session, request)
        body = _body(request)
        session.login_device = {k: body[k] for k in ("device_id", "device_type") if k in body}
        return reply

    async def _push(self, session: Session, request: dict[str, Any]) -> Reply:
        """`push:register|unregister|subscribe|unsubscribe`. The Android SDK waits for `<request>:success` or
        `<request>:error` (reference 1.8), so a refusal is that event, with the API's code in `code`."""
        name, body = str(request.get("_type")), _body(request)
        try:
            principal = _logged_in(session)
            if name == "push:register":
                device_id = body.get("device_id", session.login_device.get("device_id"))
                device_type = body.get("device_type", session.login_device.get("device_type"))
                device = await self._svc.push.register(principal, device_id, device_type, body.get("device_token"))
                result: dict[str, Any] = {"device_id": device.id, "device_type": device.device_type}
            elif name == "push:unregister":
                await self._svc.push.unregister(principal, body.get("device_id"))
                result = {"device_id": body.get("device_id")}
            else:
                cid = _push_cid(request)
                await self._svc.push.subscribe(principal, cid, name == "push:subscribe")
                result = {"cid": cid}
        except DomainError as error:
            return f"{name}:error", {"type": f"{name}:error", "code": error.code, "description": error.detail}
        return f"{name}:success", {"body": result}


def _body(request: dict[str, Any]) -> dict[str, Any]:
    body = request.get("body")
    return body if isinstance(body, dict) else {}


def _user_spec(body: dict[str, Any]) -> dict[str, Any]:
    spec = {"id": body.get("user_id"), "name": body.get("user_name")}
    return {k: v for k, v in spec.items() if v is not None}


def _check_ids(request: dict[str, Any]) -> None:
    """The ids a request names go to the store as they are: PostgreSQL refuses a NUL in text with an error of its
    own (REST never gets there: such an id matches no route)."""
    body = _body(request)
    for label, value in (("cid", request.get("cid")), ("body.cid", body.get("cid")),
                         ("body.member_id", body.get("member_id")), ("body.user_id", body.get("user_id"))):
        if isinstance(value, str) and "\x00" in value:
            raise invalid(label, f'"{label}" must not contain NUL characters')


def _logged_in(session: Session) -> Principal:
    if session.principal is None:
        if session.user_id:
            raise DomainError("session:error:expired-token",
                              "The session's token has expired: send session:update-token.")
        raise DomainError("session:invalid", "Log in first (session:login).")
    return session.principal


# The REST request each socket request stands for: a token's ACL (`acl.paths`) is checked against it, so a token
# limited to, say, reading conversations cannot send texts over the socket either.
REST_EQUIVALENTS: dict[str, tuple[str, str]] = {
    "user:conversations": ("GET", "/v1/users/{user}/conversations"),
    "user:get": ("GET", "/v1/users/{user}"),
    "new:conversation": ("POST", "/v1/conversations"),
    "conversation:get": ("GET", "/v1/conversations/{cid}"),
    "conversation:events": ("GET", "/v1/conversations/{cid}/events"),
    "conversation:join": ("POST", "/v1/conversations/{cid}/members"),
    "conversation:invite": ("POST", "/v1/conversations/{cid}/members"),
    "conversation:member:delete": ("PATCH", "/v1/conversations/{cid}/members/{member}"),
    "conversation:delete": ("DELETE", "/v1/conversations/{cid}"),
    "event:delete": ("DELETE", "/v1/conversations/{cid}/events/{event}"),
    **{event_type: ("POST", "/v1/conversations/{cid}/events") for event_type in (
        "text", "image", "text:typing:on", "text:typing:off", "text:delivered", "text:seen", "image:delivered",
        "image:seen")},
    # push registration: the documented ACL paths `/*/devices/**` (register devices) and `/*/push/**`
    "push:register": ("PUT", "/v1/devices/-"),
    "push:unregister": ("DELETE", "/v1/devices/-"),
    "push:subscribe": ("PUT", "/v1/push/{cid}"),
    "push:unsubscribe": ("DELETE", "/v1/push/{cid}"),
}


def _check_acl(session: Session, name: str, request: dict[str, Any]) -> None:
    equivalent = REST_EQUIVALENTS.get(name)
    if session.grant is None or equivalent is None:
        return
    method, template = equivalent
    cid = _push_cid(request) if name in ("push:subscribe", "push:unsubscribe") else request.get("cid")
    path = template.format(user=session.user_id, cid=cid or "-", member="-", event="-")
    if not session.grant.allows(method, path):
        raise forbidden(f"The token's ACL does not allow {name} ({method} {template}).")


def _push_cid(request: dict[str, Any]) -> str:
    """The conversation of `push:subscribe|unsubscribe`: `body.cid` (the Android SDK) or the request's `cid`."""
    return str(_body(request).get("cid") or request.get("cid") or "")


def _token(request: dict[str, Any]) -> str:
    token = _body(request).get("token")
    if not isinstance(token, str) or not token:
        raise DomainError("system:error:invalid-token", f"{request.get('_type')} needs body.token.")
    return token


SESSION_REQUESTS = frozenset({"session:login", "session:update-token"})


def _session_code(code: str) -> str:
    """Login failures use the session's own error names, which the SDKs know."""
    return "session:error:expired-token" if code == "system:error:expired-token" else "session:error:invalid-token"


def _error(rid: Any, code: str, detail: str) -> Reply:
    return code, {"rid": rid, "type": code, "description": detail}
