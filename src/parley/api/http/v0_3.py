"""`/v0.3` (what `@vonage/client-sdk` 1.x/2.x and nexmo-client 9.x call): the v1 resources under another prefix
(`app.py` mounts the v1 routes there too), except where the v0.3 clients read a different shape. Only those
differences live here, and these routes go before the shared ones:

- `GET /v0.3/users/{id}/conversations`: the caller's membership nests as `_embedded.member.{id, state}`;
- `GET /v0.3/conversations/{id}/events[/{event_id}]`: events under their Conversation API names (a legacy `text`
  is a text `message`, see `dialect_map`), `_embedded.events` always; `filter_group_type=ChatEvents` leaves
  receipts out (the SDK cannot parse them in a listing);
- `DELETE /v0.2/conversations/{id}/members/{member_id}`: leave, or remove another member (v0.2's verb for it).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from parley.api.dialect_map import as_modern
from parley.api.http import render
from parley.api.http.common import Context, JSONResponse, empty, envelope, int_path, query_page, resource
from parley.api.http.conversations import USER_CONVERSATION_FILTERS, include_custom_data
from parley.api.http.events import FILTERS as EVENT_FILTERS
from parley.domain.conversations import ConversationService
from parley.domain.events import EventService
from parley.domain.members import MemberService
from parley.domain.validate import optional_str

PREFIX = "/v0.3"
MODERN_EVENT_FILTERS = [*EVENT_FILTERS, "filter_group_type"]


def routes(ctx: Context, conversations: ConversationService, members: MemberService,
           events: EventService) -> list[Route]:
    async def user_conversations(request: Request) -> Response:
        principal = await ctx.principal(request)
        user_id = request.path_params["user_id"]
        page = await conversations.list_of_user(principal, user_id,
                                                query_page(request, USER_CONVERSATION_FILTERS))
        base = ctx.base_url(request)
        custom = include_custom_data(page.request.filters)
        items = []
        for conversation, member in page.items:
            item = render.user_conversation(base, conversation, member, custom)
            item["_embedded"] = {"member": item["_embedded"]}
            items.append(item)
        url = f"{base}{PREFIX}/users/{user_id}/conversations"
        return JSONResponse(envelope(url, {"conversations": items}, page))

    async def list_events(request: Request) -> Response:
        principal = await ctx.principal(request)
        conversation_id = request.path_params["conversation_id"]
        page = await events.list(principal, conversation_id, query_page(request, MODERN_EVENT_FILTERS))
        base = ctx.base_url(request)
        # TODO(state): messages carry `state` {seen_by, delivered_to} once the domain computes it (on main).
        items = [render.event(base, as_modern(e)) for e in page.items]
        url = f"{base}{PREFIX}/conversations/{conversation_id}/events"
        return JSONResponse(envelope(url, {"events": items}, page))

    async def get_event(request: Request) -> Response:
        principal = await ctx.principal(request)
        params = request.path_params
        event = await events.get(principal, params["conversation_id"], int_path(params["event_id"], "event_id"))
        return JSONResponse(render.event(ctx.base_url(request), as_modern(event)))

    async def remove_member(request: Request) -> Response:
        principal = await ctx.principal(request)
        body = await ctx.body(request, optional=True)
        reason = {k: v for k, v in (("code", optional_str(body, "reason_code", 100)),
                                    ("text", optional_str(body, "reason_text", 1000))) if v}
        params = request.path_params
        update = {"state": "left", **({"reason": reason} if reason else {})}
        await members.update(principal, params["conversation_id"], params["member_id"], update)
        return empty()

    return [
        resource(PREFIX + "/users/{user_id:id}/conversations", GET=user_conversations),
        resource(PREFIX + "/conversations/{conversation_id:id}/events", GET=list_events),
        resource(PREFIX + "/conversations/{conversation_id:id}/events/{event_id}", GET=get_event),
        resource("/v0.2/conversations/{conversation_id:id}/members/{member_id:id}", DELETE=remove_member),
    ]
