"""`/v1/users`."""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from parley.api.http import render
from parley.api.http.common import Context, JSONResponse, empty, envelope, query_page, resource
from parley.domain.errors import forbidden
from parley.domain.paging import paginate
from parley.domain.users import UserService
from parley.realtime.sessions import SessionRegistry


def routes(ctx: Context, users: UserService, prefix: str = "/v1", sessions: SessionRegistry | None = None,
           by_name: bool = False) -> list[Route]:
    """`by_name`: `GET .../users/{id}` also finds a user by name (v0.3: the client SDKs' `getUser`)."""

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
        user_id = request.path_params["user_id"]
        user = await (users.get_by_id_or_name(principal, user_id) if by_name else users.get(principal, user_id))
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
        """The user's sessions open on `/v2/rtc` in this process (an admin's view, or the user's own)."""
        principal = await ctx.principal(request)
        user_id = request.path_params["user_id"]
        await users.get(principal, user_id)
        if principal.user is not None and principal.user.id != user_id:
            raise forbidden("A user token may only list its own sessions.")
        request_page = query_page(request, [])
        rows = sessions.scan_user(principal.application_id, user_id, request_page.scan()) if sessions else []
        page = paginate(rows, request_page, lambda row: row[0])
        now = time.time()
        items = [render.session(s, now) for _, s in page.items]
        base = ctx.base_url(request)
        return JSONResponse(envelope(f"{base}{prefix}/users/{user_id}/sessions", {"sessions": items}, page))

    return [
        resource(prefix + "/users/{user_id:id}/sessions", GET=user_sessions),
        resource(f"{prefix}/users", GET=list_users, POST=create_user),
        resource(prefix + "/users/{user_id:" + ("name" if by_name else "id") + "}", GET=get_user, PATCH=update_user,
                 DELETE=delete_user),
    ]
