"""`PUT /v0.2/sessions/{session_id}`: a client refreshes its session's token (`refreshSession`, nexmo-client
`updateToken`). The new token is the request's own bearer token (the SDK sends an empty JSON string as the
body); the session must be one of that token's user's, open in this process. The reply is `{session_id}`."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from parley.api.auth import bearer_token
from parley.api.http.common import Context, JSONResponse, resource
from parley.domain.errors import DomainError
from parley.realtime.sessions import SessionRegistry


def session_not_found() -> DomainError:
    return DomainError("session:error:not-found", "Session does not exist, or you do not have access.")


def routes(ctx: Context, sessions: SessionRegistry) -> list[Route]:
    async def update_session(request: Request) -> Response:
        principal = await ctx.principal(request)
        session = sessions.get(principal.application_id, request.path_params["session_id"])
        if session is None or principal.user is None or session.user_id != principal.user.id:
            raise session_not_found()
        token = bearer_token(request.headers.get("authorization"))
        session.extend((await ctx.authenticator.session(token, request.scope["path"])).expires)
        return JSONResponse({"session_id": session.id})

    return [resource("/v0.2/sessions/{session_id:id}", PUT=update_session)]
