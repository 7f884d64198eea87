"""What every handler shares: JSON in and out, the caller, paging parameters, links."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import orjson
from starlette.convertors import StringConvertor, register_url_convertor
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from parley.api.auth import Authenticator
from parley.api.cors import cross_origin
from parley.domain.errors import DomainError, invalid
from parley.domain.limits import Limits
from parley.domain.paging import Page, PageRequest, encode_cursor, page_request
from parley.domain.principal import Principal
from parley.domain.validate import MAX_DEPTH, event_id_value, json_depth_within

Handler = Callable[[Request], Awaitable[Response]]


class IdConvertor(StringConvertor):
    """Resource ids in paths (`USR-…`, `CON-…`, `MEM-…`): anything else, NUL bytes included, is simply no route."""

    regex = r"[A-Za-z0-9._:~\-]{1,200}"


class NameConvertor(StringConvertor):
    """An id or a name (`GET /v0.3/users/{id or name}`): names hold any character (`@`, spaces, letters of any
    script), so anything but a slash, and no NUL byte, which no name holds either."""

    regex = r"[^/\x00]{1,200}"


register_url_convertor("id", IdConvertor())
register_url_convertor("name", NameConvertor())


def resource(path: str, **handlers: Handler) -> Route:
    """One route per path with a handler per method, so a 405 answer's `Allow` lists every method the path has."""
    if "GET" in handlers:
        handlers.setdefault("HEAD", handlers["GET"])

    async def dispatch(request: Request) -> Response:
        return await handlers[request.method](request)

    return Route(path, dispatch, methods=list(handlers))


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def empty(status: int = 204) -> Response:
    return Response(status_code=status)


async def read_json(request: Request, limits: Limits, *, optional: bool = False) -> dict[str, Any]:
    """The request's JSON object body. Oversize, malformed or non-object bodies are refused before any work."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit():
        if int(declared) > limits.max_body_bytes:
            raise too_large(limits)
        raw = await request.body()  # the server holds it to the declared length
    else:  # chunked: count as it arrives
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limits.max_body_bytes:
                raise too_large(limits)
            chunks.append(chunk)
        raw = b"".join(chunks)
    if not raw.strip():
        if optional:
            return {}
        raise invalid("body", "A JSON object body is required.")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise DomainError("http:error:invalid-json", f"The body is not valid JSON: {exc.msg}.") from exc
    if not isinstance(body, dict):
        raise invalid("body", "The body must be a JSON object.")
    if not json_depth_within(body):
        raise invalid("body", f"The body must not nest deeper than {MAX_DEPTH} levels.")
    return body


def too_large(limits: Limits) -> DomainError:
    return DomainError("http:error:request-too-large", f"The body is larger than {limits.max_body_bytes} bytes.")


class Context:
    """Per-server helpers for handlers: authentication and link building."""

    def __init__(self, authenticator: Authenticator, limits: Limits, public_url: str | None) -> None:
        self.authenticator = authenticator
        self.limits = limits
        self._public_url = public_url.rstrip("/") if public_url else None

    async def principal(self, request: Request) -> Principal:
        headers = request.headers
        origin = cross_origin(headers.get("origin"), headers.get("host"), request.scope.get("scheme", "http"))
        return await self.authenticator.principal(headers.get("authorization"), request.method,
                                                  request.scope["path"], origin)

    def base_url(self, request: Request) -> str:
        """Links are absolute (the Node clients parse `_links.next.href` with `new URL`)."""
        if self._public_url:
            return self._public_url
        scope = request.scope
        host = request.headers.get("host")
        if not host:
            server = scope.get("server") or ("localhost", 80)
            host = f"{server[0]}:{server[1]}"
        return f"{scope.get('scheme', 'http')}://{host}{scope.get('root_path', '')}"

    async def body(self, request: Request, *, optional: bool = False) -> dict[str, Any]:
        return await read_json(request, self.limits, optional=optional)


def query_page(request: Request, filter_names: Iterable[str]) -> PageRequest:
    params = request.query_params
    filters = {name: params[name] for name in filter_names if params.get(name) not in (None, "")}
    return page_request(params.get("page_size"), params.get("order"), params.get("cursor"), filters)


def page_links(url: str, page: Page[Any]) -> dict[str, Any]:
    def href(request: PageRequest | None) -> dict[str, str]:
        first = request is None or (request.position is None and not request.backwards)
        target = request if request is not None else page.request
        cursor = "" if first else f"&cursor={encode_cursor(target)}"
        query = f"?order={target.order}&page_size={target.size}"
        for key, value in sorted(target.filters.items()):
            query += f"&{key}={_quote(value)}"
        return {"href": f"{url}{query}{cursor}"}

    first_request = PageRequest(page.request.size, page.request.order, page.request.filters)
    links: dict[str, Any] = {"first": href(first_request), "self": href(page.request)}
    if page.next is not None:
        links["next"] = href(page.next)
    if page.prev is not None:
        links["prev"] = href(page.prev)
    return links


def _quote(value: str) -> str:
    from urllib.parse import quote

    return quote(value, safe="")


def int_path(value: str, name: str) -> int:
    return event_id_value(value, name)


def envelope(url: str, embedded: Any, page: Page[Any]) -> dict[str, Any]:
    """The v1 list envelope: `page_size`, `_embedded` (always present, `{<resource>: [...]}` or a bare array for
    the clients that want one), `_links`."""
    return {"page_size": page.request.size, "_embedded": embedded, "_links": page_links(url, page)}
