"""`/v1/conversations` and `/v1/users/{user_id:id}/conversations`."""

from __future__ import annotations

from collections.abc import Mapping

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from parley.api.http import render
from parley.api.http.common import Context, JSONResponse, empty, envelope, query_page, resource
from parley.domain.conversations import ConversationService

USER_CONVERSATION_FILTERS = ["state", "date_start", "date_end", "order_by", "include_custom_data"]


def include_custom_data(filters: Mapping[str, str]) -> bool:
    return filters.get("include_custom_data", "").lower() == "true"


def routes(ctx: Context, conversations: ConversationService, prefix: str = "/v1",
           nested_membership: bool = False, patch: bool = False, by_name: bool = False) -> list[Route]:
    """`nested_membership`: a user's conversations carry the membership as `_embedded.member`; `patch`: a
    conversation is updated with PATCH too; `by_name`: `GET .../conversations/{id}` also finds one by name
    (all three as the v0.3 clients do)."""

    async def list_conversations(request: Request) -> Response:
        principal = await ctx.principal(request)
        page = await conversations.list(principal, query_page(request, ["date_start", "date_end",
                                                                         "include_custom_data"]))
        base = ctx.base_url(request)
        custom = include_custom_data(page.request.filters)
        items = [render.conversation_lite(base, c, custom) for c in page.items]
        return JSONResponse(envelope(f"{base}{prefix}/conversations", {"conversations": items}, page))

    async def create_conversation(request: Request) -> Response:
        principal = await ctx.principal(request)
        conversation = await conversations.create(principal, await ctx.body(request, optional=True))
        return JSONResponse(render.conversation(ctx.base_url(request), conversation), status_code=201)

    async def get_conversation(request: Request) -> Response:
        principal = await ctx.principal(request)
        conversation_id = request.path_params["conversation_id"]
        conversation = await (conversations.get_by_id_or_name(principal, conversation_id) if by_name
                              else conversations.get(principal, conversation_id))
        return JSONResponse(render.conversation(ctx.base_url(request), conversation))

    async def update_conversation(request: Request) -> Response:
        principal = await ctx.principal(request)
        body = await ctx.body(request, optional=True)
        conversation = await conversations.update(principal, request.path_params["conversation_id"], body)
        return JSONResponse(render.conversation(ctx.base_url(request), conversation))

    async def delete_conversation(request: Request) -> Response:
        principal = await ctx.principal(request)
        await conversations.delete(principal, request.path_params["conversation_id"])
        return empty()

    async def user_conversations(request: Request) -> Response:
        principal = await ctx.principal(request)
        user_id = request.path_params["user_id"]
        page = await conversations.list_of_user(principal, user_id, query_page(request, USER_CONVERSATION_FILTERS))
        base = ctx.base_url(request)
        custom = include_custom_data(page.request.filters)
        items = [render.user_conversation(base, c, m, custom, nested_membership) for c, m in page.items]
        url = f"{base}{prefix}/users/{user_id}/conversations"
        return JSONResponse(envelope(url, {"conversations": items}, page))

    return [
        resource(f"{prefix}/conversations", GET=list_conversations, POST=create_conversation),
        resource(prefix + "/conversations/{conversation_id:" + ("name" if by_name else "id") + "}",
                 GET=get_conversation, PUT=update_conversation,
                 DELETE=delete_conversation, **({"PATCH": update_conversation} if patch else {})),
        resource(prefix + "/users/{user_id:id}/conversations", GET=user_conversations),
    ]
