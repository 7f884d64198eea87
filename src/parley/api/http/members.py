"""`/v1/conversations/{conversation_id:id}/members`."""

from __future__ import annotations

import dataclasses

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from parley.api.http import render
from parley.api.http.common import Context, JSONResponse, envelope, query_page, resource
from parley.domain.events import EventService
from parley.domain.members import MemberService

PATH = "/conversations/{conversation_id:id}/members"


def routes(ctx: Context, members: MemberService, events: EventService, prefix: str = "/v1") -> list[Route]:
    async def list_members(request: Request) -> Response:
        principal = await ctx.principal(request)
        conversation_id = request.path_params["conversation_id"]
        page = await members.list(principal, conversation_id, query_page(request, []))
        base = ctx.base_url(request)
        items = [render.member_lite(base, m) for m in page.items]
        url = f"{base}{prefix}/conversations/{conversation_id}/members"
        return JSONResponse(envelope(url, {"members": items}, page))

    async def create_member(request: Request) -> Response:
        principal = await ctx.principal(request)
        body = await ctx.body(request)
        member = await members.create(principal, request.path_params["conversation_id"], body)
        return JSONResponse(render.member(ctx.base_url(request), member), status_code=201)

    async def get_me(request: Request) -> Response:
        principal = await ctx.principal(request)
        member = await members.me(principal, request.path_params["conversation_id"])
        return JSONResponse(render.member(ctx.base_url(request), member))

    async def get_member(request: Request) -> Response:
        principal = await ctx.principal(request)
        params = request.path_params
        member = await members.get(principal, params["conversation_id"], params["member_id"])
        return JSONResponse(render.member(ctx.base_url(request), member))

    async def update_member(request: Request) -> Response:
        principal = await ctx.principal(request)
        body = await ctx.body(request)
        params = request.path_params
        member = await members.update(principal, params["conversation_id"], params.get("member_id", "me"), body)
        return JSONResponse(render.member(ctx.base_url(request), member))

    async def read_state(request: Request) -> Response:
        """parley's extension: a member's read horizons and unread count (text, image and message events from
        others after the last one it saw)."""
        principal = await ctx.principal(request)
        params = request.path_params
        state = await events.read_state(principal, params["conversation_id"], params.get("member_id"))
        return JSONResponse(dataclasses.asdict(state))

    return [
        resource(prefix + PATH, GET=list_members, POST=create_member),
        resource(prefix + PATH + "/me", GET=get_me, PATCH=update_member),
        resource(prefix + PATH + "/me/read-state", GET=read_state),
        resource(prefix + PATH + "/{member_id:id}/read-state", GET=read_state),
        resource(prefix + PATH + "/{member_id:id}", GET=get_member, PATCH=update_member),
    ]
