"""`/openapi.json` (OpenAPI 3.1, describing what this server really does) and `/docs`, a page for people."""

from __future__ import annotations

import html
from functools import cache
from pathlib import Path
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from parley.api.http.common import JSONResponse

SPEC = Path(__file__).with_name("openapi.json")


@cache
def spec() -> dict[str, Any]:
    loaded: dict[str, Any] = orjson.loads(SPEC.read_bytes())
    return loaded


@cache
def docs_page() -> str:
    """A self-contained page (no CDN: parley must work offline) listing every operation of the spec."""
    document = spec()
    rows = []
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            if method.startswith("x-") or method == "parameters":
                continue
            rows.append(
                f"<tr><td class=m>{html.escape(method.upper())}</td><td><code>{html.escape(path)}</code></td>"
                f"<td>{html.escape(operation.get('summary', ''))}</td></tr>")
    info = document.get("info", {})
    return (
        "<!doctype html><html><head><meta charset=utf-8><title>parley API</title><style>"
        "body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}"
        "td{padding:.3rem .6rem;border-bottom:1px solid #ddd}.m{font-weight:bold}</style></head><body>"
        f"<h1>{html.escape(info.get('title', 'parley'))}</h1><p>{html.escape(info.get('description', ''))}</p>"
        "<p>The machine-readable description is at <a href=/openapi.json>/openapi.json</a> (OpenAPI 3.1).</p>"
        f"<table>{''.join(rows)}</table></body></html>"
    )


def routes() -> list[Route]:
    async def openapi(request: Request) -> Response:
        return JSONResponse(spec())

    async def page(request: Request) -> Response:
        return HTMLResponse(docs_page())

    return [Route("/openapi.json", openapi, methods=["GET"]), Route("/docs", page, methods=["GET"])]
