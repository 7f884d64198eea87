"""`/v0.3` (what `@vonage/client-sdk` 1.x/2.x and nexmo-client 9.x call): the v1 resources and handlers under
another prefix, with what the v0.3 clients read differently:

- a user's conversations nest the caller's membership as `_embedded.member.{id, state}`;
- `PATCH` updates a conversation (as `PUT` does); `GET /v0.3/users/{id}` and `GET /v0.3/conversations/{id}`
  also find a user or a conversation by name;
- events are shown, and `event_type` filters them, under their Conversation API names (a legacy `text` is a
  text `message`, see `dialect_map`),
  `_embedded.events` always, and `filter_group_type=ChatEvents` leaves receipts out (the SDK cannot parse them
  in a listing): listed messages carry them as `state` {seen_by, delivered_to} instead;
- `DELETE /v0.2/conversations/{id}/members/{member_id}`: leave, or remove another member (v0.2's verb for it).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from parley.api.dialect_map import as_modern
from parley.api.http import conversations, events, members, users
from parley.api.http.common import Context, empty, resource
from parley.domain.conversations import ConversationService
from parley.domain.events import MODERN_NAMES, EventService
from parley.domain.members import MemberService
from parley.domain.users import UserService
from parley.domain.validate import optional_str
from parley.realtime.sessions import SessionRegistry

PREFIX = "/v0.3"
EVENT_FILTERS = [*events.FILTERS, "filter_group_type"]


def routes(ctx: Context, conversation_service: ConversationService, member_service: MemberService,
           event_service: EventService, user_service: UserService, sessions: SessionRegistry) -> list[Route]:
    return [
        *events.routes(ctx, event_service, "object", PREFIX, present=as_modern, filters=EVENT_FILTERS,
                       receipt_state=True,
                       names=MODERN_NAMES),
        *members.routes(ctx, member_service, event_service, PREFIX),
        *conversations.routes(ctx, conversation_service, PREFIX, nested_membership=True, patch=True,
                              by_name=True),
        *users.routes(ctx, user_service, PREFIX, sessions, by_name=True),
        *v0_2_routes(ctx, member_service),
    ]


def v0_2_routes(ctx: Context, member_service: MemberService) -> list[Route]:
    async def remove_member(request: Request) -> Response:
        principal = await ctx.principal(request)
        body = await ctx.body(request, optional=True)
        reason = {k: v for k, v in (("code", optional_str(body, "reason_code", 100)),
                                    ("text", optional_str(body, "reason_text", 1000))) if v}
        params = request.path_params
        update = {"state": "left", **({"reason": reason} if reason else {})}
        await member_service.update(principal, params["conversation_id"], params["member_id"], update)
        return empty()

    return [resource("/v0.2/conversations/{conversation_id:id}/members/{member_id:id}", DELETE=remove_member)]
