"""Resource ids and generated names, in the API's formats (`CON-<uuid>`, `NAM-<uuid>`...)."""

from __future__ import annotations

import re
import uuid

CONVERSATION = "CON"
MEMBER = "MEM"
USER = "USR"
SESSION = "SES"
NAME = "NAM"

_ID = re.compile(r"^(CON|MEM|USR|SES)-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4()}"


def generated_name() -> str:
    return new_id(NAME)


def looks_like(prefix: str, value: str) -> bool:
    match = _ID.match(value)
    return match is not None and match.group(1) == prefix
