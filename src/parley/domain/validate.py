"""Small readers for request bodies: each returns a typed value or raises a validation error naming the field.

The API ignores unknown fields (clients send extra ones), so these only look at what they are asked for.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from parley.domain.clock import iso
from parley.domain.errors import invalid
from parley.domain.models import JSON

_INTEGER = re.compile(r"^-?[0-9]{1,19}$")
_ID_DIGITS = re.compile(r"^[0-9]{1,19}$")
MAX_DEPTH = 32  # of JSON nesting in a request body; orjson writes at most 254 levels, and responses add some


def json_depth_within(value: Any, limit: int = MAX_DEPTH) -> bool:
    """True when `value` nests at most `limit` arrays/objects deep (iteratively: no recursion to exhaust)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return False
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return True


def body_object(body: Any) -> JSON:
    if not isinstance(body, dict):
        raise invalid("body", '"body" must be a JSON object')
    return body


def optional_str(data: JSON, name: str, max_chars: int, *, label: str | None = None, nullable: bool = True
                 ) -> str | None:
    value = data.get(name)
    label = label or name
    if value is None:
        if name in data and not nullable:
            raise invalid(label, f'"{label}" must be a string')
        return None
    if not isinstance(value, str):
        raise invalid(label, f'"{label}" must be a string')
    if len(value) > max_chars:
        raise invalid(label, f'"{label}" length must be less than or equal to {max_chars} characters long')
    if "\x00" in value:  # no database stores NUL in text, and no client means it
        raise invalid(label, f'"{label}" must not contain NUL characters')
    return value


def optional_object(data: JSON, name: str, *, label: str | None = None) -> JSON | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise invalid(label or name, f'"{label or name}" must be an object')
    return value


def json_size(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())


def bounded_object(data: JSON, name: str, max_bytes: int, *, label: str | None = None) -> JSON | None:
    value = optional_object(data, name, label=label)
    if value is not None and json_size(value) > max_bytes:
        raise invalid(label or name, f'"{label or name}" must be at most {max_bytes} bytes of JSON')
    return value


def optional_int(data: JSON, name: str, low: int, high: int, *, label: str | None = None) -> int | None:
    value = data.get(name)
    label = label or name
    if value is None:
        return None
    if isinstance(value, str) and _INTEGER.match(value.strip()):
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise invalid(label, f'"{label}" must be a number')
    if not low <= value <= high:
        raise invalid(label, f'"{label}" must be between {low} and {high}')
    return value


MAX_ID = 2**63 - 1  # ids are 64-bit integers in both databases


def event_id_value(value: Any, label: str) -> int:
    """Event ids arrive as integers or as numeric strings (the legacy specs typed them as strings)."""
    if isinstance(value, str) and _ID_DIGITS.match(value.strip()):
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_ID:
        return value
    raise invalid(label, f'"{label}" must be a positive integer')


def timestamp_value(value: str, label: str) -> str:
    """A query date (`2018-01-01 10:00:00`, `2024-01-17T13:45:56.000Z` ...) in the stored form, for comparing."""
    try:
        moment = datetime.fromisoformat(value.strip())
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return iso(moment)
    except (ValueError, OverflowError) as exc:  # OverflowError: year 1 or 9999 shifted out of range by a zone
        raise invalid(label, f'"{label}" must be a valid ISO 8601 date') from exc


def one_of(value: Any, label: str, allowed: tuple[str, ...]) -> str:
    """Case-insensitive enum (clients send `JOINED` where the spec says `joined`)."""
    if isinstance(value, str) and value.lower() in allowed:
        return value.lower()
    raise invalid(label, f'"{label}" must be one of [{", ".join(allowed)}]')

