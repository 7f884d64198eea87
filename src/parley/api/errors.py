"""The one place that maps the API's error codes to HTTP statuses and error bodies.

Body (v0.3/v1, RFC 7807-like plus `code`):
`{"type": ".../api/conversation#<code>", "title", "code", "detail", "instance", "invalid_parameters"?}`
"""

from __future__ import annotations

import uuid
from typing import Any

from parley.domain.errors import DomainError

DOCS = "https://developer.nexmo.com/api/conversation#"

# code -> (status, title); codes not listed fall back by their suffix, then to 400.
STATUS: dict[str, tuple[int, str]] = {
    "http:error:validation-fail": (400, "Bad request."),
    "http:error:invalid-json": (400, "Bad request."),
    "http:error:not-found": (404, "Not found."),
    "http:error:method-not-allowed": (405, "Method not allowed."),
    "http:error:request-too-large": (413, "Payload too large."),
    "http:error:unsupported-media-type": (415, "Unsupported media type."),
    "http:error:too-many-request": (429, "Too Many Requests."),
    "system:error:invalid-token": (401, "Unauthorized."),
    "system:error:missing-token": (401, "Unauthorized."),
    "system:error:expired-token": (401, "Unauthorized."),
    "system:error:permission": (403, "Forbidden."),
    "system:error:internal-error": (500, "Internal Error."),
    "system:error:busy": (503, "Service Unavailable."),
    "user:error:invalid-user-token": (403, "Forbidden."),
    "conversation:error:permission-denied": (403, "Forbidden."),
    "event:error:permission-denied": (403, "Forbidden."),
    "event:error:not-joined": (403, "Forbidden."),
    "event:error:delete-not-allowed": (403, "Forbidden."),
    "conversation:error:not-allowed": (403, "Forbidden."),
    "conversation:error:duplicate-name": (409, "Conflict."),
    "user:error:duplicate-name": (409, "Conflict."),
    "application:error:duplicate-id": (409, "Conflict."),
    "conversation:error:member-already-joined": (400, "Bad request."),
    "conversation:error:member-already-invited": (400, "Bad request."),
    "conversation:error:invalid-member-state": (400, "Conflict."),
    "conversation:error:maximum-number-of-members": (400, "Bad request."),
}


def status_of(code: str) -> tuple[int, str]:
    if code in STATUS:
        return STATUS[code]
    if code.endswith("not-found"):
        return 404, "Not found."
    return 400, "Bad request."


def error_body(error: DomainError, instance: str | None = None) -> tuple[int, dict[str, Any]]:
    status, title = status_of(error.code)
    body: dict[str, Any] = {
        "type": DOCS + error.code,
        "title": title,
        "code": error.code,
        "detail": error.detail,
        "instance": instance or uuid.uuid4().hex,
    }
    if error.invalid_parameters:
        body["invalid_parameters"] = [{"name": p.name, "reason": p.reason} for p in error.invalid_parameters]
    return status, body


def invalid_token(detail: str = "You did not provide a valid token. Please provide a valid token.") -> DomainError:
    return DomainError("system:error:invalid-token", detail)
