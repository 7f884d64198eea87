"""Cursor pagination: keyset positions, never offsets, so concurrent inserts neither skip nor repeat rows.

A cursor is opaque to clients but must reproduce page size, order and filters on its own, because the
official Node clients follow `_links.next` by sending nothing but `cursor`.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Generic, Literal, TypeVar

from parley.domain.errors import DomainError, invalid

T = TypeVar("T")
Order = Literal["asc", "desc"]

_DIGITS = re.compile(r"^[0-9]{1,18}$")
MAX_FILTER_CHARS = 1_000
DEFAULT_PAGE_SIZE = 10
MAX_PAGE_SIZE = 100


def invalid_cursor() -> DomainError:
    return DomainError("paginator-builder:error:invalid-cursor", "The cursor is invalid.")


@dataclass(frozen=True)
class PageRequest:
    """A page as a client asked for it: size, order, filters, and where to start (None = the beginning)."""

    size: int = DEFAULT_PAGE_SIZE
    order: Order = "asc"
    filters: Mapping[str, str] = field(default_factory=dict)
    position: int | None = None
    backwards: bool = False  # True when following a `prev` link

    def scan(self) -> Scan:
        descending = (self.order == "desc") != self.backwards
        return Scan(limit=self.size + 1, descending=descending, after=self.position)


@dataclass(frozen=True)
class Scan:
    """What a store executes: up to `limit` rows ordered by key, strictly past `after` in scan direction."""

    limit: int
    descending: bool
    after: int | None


@dataclass(frozen=True)
class Page(Generic[T]):
    items: Sequence[T]
    request: PageRequest
    next: PageRequest | None
    prev: PageRequest | None


def paginate(rows: Sequence[T], request: PageRequest, key: Callable[[T], int]) -> Page[T]:
    """Turn the rows of `request.scan()` into a page with its neighbour requests."""
    more = len(rows) > request.size
    items = list(rows[: request.size])
    if request.backwards:
        items.reverse()
        has_next, has_prev = request.position is not None, more
    else:
        has_next, has_prev = more, request.position is not None
    next_req = prev_req = None
    if items and has_next:
        next_req = PageRequest(request.size, request.order, request.filters, key(items[-1]), False)
    if items and has_prev:
        prev_req = PageRequest(request.size, request.order, request.filters, key(items[0]), True)
    return Page(items, request, next_req, prev_req)


def encode_cursor(request: PageRequest) -> str:
    state = {"p": request.position, "b": int(request.backwards), "s": request.size, "o": request.order,
             "f": dict(request.filters)}
    raw = json.dumps(state, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def check_filters(filters: Mapping[str, str]) -> None:
    for name, value in filters.items():
        if "\x00" in value or len(value) > MAX_FILTER_CHARS:
            raise invalid(name, f'"{name}" is not a valid value')


def decode_cursor(cursor: str) -> PageRequest:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        state = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise invalid_cursor() from exc
    if not isinstance(state, dict):
        raise invalid_cursor()
    position, size, order, filters = state.get("p"), state.get("s"), state.get("o"), state.get("f")
    if not isinstance(size, int) or not isinstance(filters, dict):
        raise invalid_cursor()
    valid = (
        (position is None or (isinstance(position, int) and not isinstance(position, bool)
                              and 0 <= position < 2**63))
        and isinstance(size, int) and 1 <= size <= MAX_PAGE_SIZE
        and order in ("asc", "desc")
        and isinstance(filters, dict)
        and all(isinstance(k, str) and isinstance(v, str) for k, v in filters.items())
        and state.get("b") in (0, 1)
    )
    if not valid:
        raise invalid_cursor()
    try:
        check_filters(filters)
    except DomainError as exc:
        raise invalid_cursor() from exc
    return PageRequest(int(size), "desc" if order == "desc" else "asc", dict(filters), position, bool(state["b"]))


def page_request(
    page_size: str | None, order: str | None, cursor: str | None, filters: Mapping[str, str]
) -> PageRequest:
    """Parse the query parameters of a list call; a cursor carries everything and wins."""
    if cursor:
        return decode_cursor(cursor)
    check_filters(filters)
    size = DEFAULT_PAGE_SIZE
    if page_size is not None:
        if not _DIGITS.match(page_size.strip()):
            raise invalid("page_size", '"page_size" must be a number')
        size = int(page_size)
        if not 1 <= size <= MAX_PAGE_SIZE:
            raise invalid("page_size", f'"page_size" must be between 1 and {MAX_PAGE_SIZE}')
    normalized = (order or "asc").lower()
    if normalized not in ("asc", "desc"):
        raise invalid("order", '"order" must be one of [asc, desc]')
    return PageRequest(size, "desc" if normalized == "desc" else "asc", dict(filters), None, False)
