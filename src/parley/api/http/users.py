"""`/v1/users`."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from parley.api.http import render
from parley.api.http.common import Context, JSONResponse, empty, envelope, query_page, resource
from parley.domain.paging import Page
from parley.domain.users import UserService


def routes(ctx: Context, users: UserService, prefix: str = "/v1") -> list[Route]:
    async def list_users(request: Request) -> Response:
        principal = await ctx.principal(request)
        page = await users.list(principal, query_page(request, ["name"]))
        base = ctx.base_url(request)
        items = [render.user_lite(base, u) for u in page.items]
        return JSONResponse(envelope(f"{base}{prefix}/users", {"users": items}, page))

    async def create_user(request: Request) -> Response:
        principal = await ctx.principal(request)
        user = await users.create(principal, await ctx.body(request, optional=True))
        return JSONResponse(render.user(ctx.base_url(request), user), status_code=201)

    async def get_user(request: Request) -> Response:
        principal = await ctx.principal(request)
        user = await users.get(principal, request.path_params["user_id"])
        return JSONResponse(render.user(ctx.base_url(request), user))

    async def update_user(request: Request) -> Response:
        principal = await ctx.principal(request)
        body = await ctx.body(request, optional=True)
        user = await users.update(principal, request.path_params["user_id"], body)
        return JSONResponse(render.user(ctx.base_url(request), user))

    async def delete_user(request: Request) -> Response:
        principal = await ctx.principal(request)
        await users.delete(principal, request.path_params["user_id"])
        return empty()

    async def user_sessions(request: Request) -> Response:
        """Sessions are opened by socket logins (a later issue); until then every user has none."""
        principal = await ctx.principal(request)
        user_id = request.path_params["user_id"]
        await users.get(principal, user_id)
        page: Page[Any] = Page([], query_page(request, []), None, None)
        base = ctx.base_url(request)
        return JSONResponse(envelope(f"{base}{prefix}/users/{user_id}/sessions", {"sessions": []}, page))

    return [
        resource(prefix + "/users/{user_id:id}/sessions", GET=user_sessions),
        resource(f"{prefix}/users", GET=list_users, POST=create_user),
        resource(prefix + "/users/{user_id:id}", GET=get_user, PATCH=update_user, DELETE=delete_user),
    ]
