"""`/v1/conversations/{conversation_id:id}/events`.

Event lists disagree between sources on `_embedded` (reference §9.3): the official Node client only parses a
bare array, the live API (and the Java SDK since 8.9.1) returns `{"events": [...]}`. `events_envelope` picks:
"auto" answers the Node server SDK (recognised by its User-Agent) with the array and everyone else with the object.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from parley.api.http import render
from parley.api.http.common import Context, JSONResponse, empty, envelope, int_path, query_page, resource
from parley.domain.events import EventService, TypeNames
from parley.domain.models import Event
from parley.domain.validate import optional_str

PATH = "/conversations/{conversation_id:id}/events"
FILTERS = ["start_id", "end_id", "event_type", "exclude_deleted_events"]
IDEMPOTENCY_HEADERS = ("idempotency-key", "x-idempotency-key")
MAX_KEY_CHARS = 200


def wants_array(request: Request, mode: str) -> bool:
    if mode in ("array", "object"):
        return mode == "array"
    return request.headers.get("user-agent", "").startswith("@vonage/server-sdk")


def idempotency_key(request: Request, body: dict[str, Any]) -> str | None:
    """The client's id for this send: a header, or the legacy body field `client_ref`."""
    for header in IDEMPOTENCY_HEADERS:
        if value := request.headers.get(header):
            return optional_str({"key": value}, "key", MAX_KEY_CHARS, label=header)
    return optional_str(body, "client_ref", MAX_KEY_CHARS) or None


def routes(ctx: Context, events: EventService, envelope_mode: str, prefix: str = "/v1",
           present: Callable[[Event], Event] = lambda event: event, filters: Sequence[str] = FILTERS,
           receipt_state: bool = False, names: TypeNames | None = None) -> list[Route]:
    """`present` names events for the clients of this prefix (v1 shows them as they were sent), and `names`
    makes `event_type` filters match those names; `receipt_state`: listed messages carry their receipts as
    `state` {seen_by, delivered_to} (v0.3)."""

    async def list_events(request: Request) -> Response:
        principal = await ctx.principal(request)
        conversation_id = request.path_params["conversation_id"]
        page = await events.list(principal, conversation_id, query_page(request, filters), names, receipt_state)
        base = ctx.base_url(request)
        items = [render.event(base, present(e)) for e in page.items]
        url = f"{base}{prefix}/conversations/{conversation_id}/events"
        embedded: Any = items if wants_array(request, envelope_mode) else {"events": items}
        return JSONResponse(envelope(url, embedded, page))

    async def create_event(request: Request) -> Response:
        principal = await ctx.principal(request)
        body = await ctx.body(request)
        created = await events.create(principal, request.path_params["conversation_id"], body,
                                      idempotency_key(request, body))
        # A retry gets the original reply; the header tells a curious client it was a replay.
        headers = {"idempotent-replayed": "true"} if created.replayed else None
        return JSONResponse(render.event(ctx.base_url(request), present(created.event)), status_code=201,
                            headers=headers)

    async def get_event(request: Request) -> Response:
        principal = await ctx.principal(request)
        params = request.path_params
        event = await events.get(principal, params["conversation_id"], int_path(params["event_id"], "event_id"))
        return JSONResponse(render.event(ctx.base_url(request), present(event)))

    async def delete_event(request: Request) -> Response:
        principal = await ctx.principal(request)
        params = request.path_params
        await events.delete(principal, params["conversation_id"], int_path(params["event_id"], "event_id"))
        return empty()

    return [
        resource(prefix + PATH, GET=list_events, POST=create_event),
        resource(prefix + PATH + "/{event_id}", GET=get_event, DELETE=delete_event),
    ]
