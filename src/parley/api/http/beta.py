"""The REST families of nexmo-client 6.x-9.x: `/beta` (renamed `/v0.1`) and `/beta2` (renamed `/v0.2`).

`/beta` creates and reads single resources in the In-App Messaging shapes: `{id, href}` create replies, a
conversation's id as `uuid` with its members inline. (The live API answered some of these with 200 and `{}`;
the clients accept any 2xx, so parley answers as its v1 does: 201 for a create, 204 for a delete.) `/beta2`
pages lists with cursors under `_embedded.data.<resource>`. The clients' calls, from nexmo-client 9.5.1
(reference §2.2):

- POST `/beta/conversations`, GET and DELETE `/beta/conversations/{id}`, GET `/beta/users/{id}`
- POST `/beta/conversations/{id}/events` (text, typing, receipts, image, custom, ephemeral, message)
- DELETE `/beta/conversations/{id}/members/{mid}?from=<mid>&<reason>` (leave, kick)
- GET `/beta2/users/{id}/conversations`, `/beta2/conversations/{id}/events` (history, and the ordering queue's
  `start_id`/`end_id` gap fetch; `event_type` filters by the In-App Messaging names it shows),
  `/beta2/conversations/{id}/members`
- DELETE `/beta2/conversations/{id}/events/{eid}?from=<mid>`

Every POST body carries `originating_session`; like any unknown field it is ignored.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from parley.api import inapp
from parley.api.http.common import Context, JSONResponse, empty, envelope, int_path, query_page, resource
from parley.api.http.events import FILTERS as EVENT_FILTERS
from parley.api.http.events import idempotency_key
from parley.api.inapp import Services
from parley.domain.errors import invalid
from parley.domain.events import LEGACY_NAMES
from parley.domain.models import JSON
from parley.domain.paging import Page, PageRequest

BETA_PREFIXES = ("/beta", "/v0.1")
BETA2_PREFIXES = ("/beta2", "/v0.2")
CONVERSATION = "/conversations/{conversation_id:id}"
# `leave(reason)` / `kick(reason)` append the reason's keys to the query; these are the ones kept.
REASON_KEYS = {"reason_code": "code", "code": "code", "reason_text": "text", "text": "text"}
MAX_REASON_CHARS = 500


def _data_envelope(ctx: Context, request: Request, resource_name: str, items: Sequence[Any],
                   page: Page[Any]) -> JSONResponse:
    url = f"{ctx.base_url(request)}{request.scope['path']}"
    return JSONResponse(envelope(url, {"data": {resource_name: list(items)}}, page))


def _left_reason(request: Request) -> JSON | None:
    reason: JSON = {}
    for key, name in REASON_KEYS.items():
        value = request.query_params.get(key)
        if value and "\x00" in value:  # as in any text the API takes
            raise invalid(key, f'"{key}" must not contain NUL characters')
        if value and name not in reason:
            reason[name] = value[:MAX_REASON_CHARS]
    return reason or None


def beta_routes(ctx: Context, svc: Services, prefix: str) -> list[Route]:
    def href(request: Request, path: str) -> str:
        """Links point back into the family (and name) the request came in on."""
        return f"{ctx.base_url(request)}{prefix}{path}"

    async def create_conversation(request: Request) -> Response:
        principal = await ctx.principal(request)
        created = await svc.conversations.create(principal, await ctx.body(request, optional=True))
        return JSONResponse({"id": created.id, "href": href(request, f"/conversations/{created.id}")},
                            status_code=201)

    async def get_conversation(request: Request) -> Response:
        principal = await ctx.principal(request)
        cid = request.path_params["conversation_id"]
        conversation = await svc.conversations.get(principal, cid)
        members = await inapp.every_page(lambda r: svc.members.list(principal, cid, r), PageRequest(size=100))
        body = inapp.conversation(conversation, members)
        # The clients of this family read the id from `uuid` (nexmo-client maps it back to `id`).
        return JSONResponse({"uuid": body.pop("id"), **body, "numbers": {},
                             "_links": {"self": {"href": href(request, f"/conversations/{cid}")}}})

    async def delete_conversation(request: Request) -> Response:
        principal = await ctx.principal(request)
        await svc.conversations.delete(principal, request.path_params["conversation_id"])
        return empty()

    async def create_event(request: Request) -> Response:
        principal = await ctx.principal(request)
        cid = request.path_params["conversation_id"]
        body = await ctx.body(request)
        created = await svc.events.create(principal, cid, body, idempotency_key(request, body))
        event = created.event
        if not event.id:  # ephemeral: fanned out, never stored, so no id to give
            return JSONResponse({"timestamp": event.timestamp}, status_code=201)
        return JSONResponse({"id": event.id, "timestamp": event.timestamp,
                             "href": href(request, f"/conversations/{cid}/events/{event.id}")}, status_code=201)

    async def remove_member(request: Request) -> Response:
        principal = await ctx.principal(request)
        params = request.path_params
        change: JSON = {"state": "left"}
        if (reason := _left_reason(request)) is not None:
            change["reason"] = reason
        await svc.members.update(principal, params["conversation_id"], params["member_id"], change)
        return empty()

    async def get_user(request: Request) -> Response:
        principal = await ctx.principal(request)
        user = await svc.users.get(principal, request.path_params["user_id"])
        return JSONResponse({"id": user.id, "name": user.name, "display_name": user.display_name,
                             "image_url": user.image_url, "channels": user.channels,
                             "href": href(request, f"/users/{user.id}")})

    return [
        resource(prefix + CONVERSATION + "/events", POST=create_event),
        resource(prefix + CONVERSATION + "/members/{member_id:id}", DELETE=remove_member),
        resource(prefix + "/conversations", POST=create_conversation),
        resource(prefix + CONVERSATION, GET=get_conversation, DELETE=delete_conversation),
        resource(prefix + "/users/{user_id:id}", GET=get_user),
    ]


def beta2_routes(ctx: Context, svc: Services, prefix: str) -> list[Route]:
    async def list_events(request: Request) -> Response:
        principal = await ctx.principal(request)
        cid = request.path_params["conversation_id"]
        # texts carry their receipt maps: the client refuses to send a second seen for what `state` shows seen
        page = await svc.events.list(principal, cid, query_page(request, EVENT_FILTERS), LEGACY_NAMES, receipts=True)
        return _data_envelope(ctx, request, "events", [inapp.event_with_sender(e) for e in page.items], page)

    async def delete_event(request: Request) -> Response:
        principal = await ctx.principal(request)
        params = request.path_params
        await svc.events.delete(principal, params["conversation_id"], int_path(params["event_id"], "event_id"))
        return empty()

    async def list_members(request: Request) -> Response:
        principal = await ctx.principal(request)
        page = await svc.members.list(principal, request.path_params["conversation_id"], query_page(request, []))
        return _data_envelope(ctx, request, "members", [inapp.member(m) for m in page.items], page)

    async def user_conversations(request: Request) -> Response:
        principal = await ctx.principal(request)
        page = await svc.conversations.list_of_user(principal, request.path_params["user_id"],
                                                    query_page(request, ["state"]))
        items = [inapp.user_conversation(c, m) for c, m in page.items]
        return _data_envelope(ctx, request, "conversations", items, page)

    return [
        resource(prefix + CONVERSATION + "/events", GET=list_events),
        resource(prefix + CONVERSATION + "/events/{event_id}", DELETE=delete_event),
        resource(prefix + CONVERSATION + "/members", GET=list_members),
        resource(prefix + "/users/{user_id:id}/conversations", GET=user_conversations),
    ]


def routes(ctx: Context, svc: Services) -> list[Route]:
    family: list[tuple[tuple[str, ...], Callable[[Context, Services, str], list[Route]]]] = [
        (BETA_PREFIXES, beta_routes), (BETA2_PREFIXES, beta2_routes)]
    return [route for prefixes, build in family for prefix in prefixes for route in build(ctx, svc, prefix)]
