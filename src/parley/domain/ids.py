"""Resource ids and generated names, in the API's formats (`CON-<uuid>`, `NAM-<uuid>`...)."""

from __future__ import annotations

import uuid

CONVERSATION = "CON"
MEMBER = "MEM"
USER = "USR"
SESSION = "SES"
NAME = "NAM"


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4()}"


def generated_name() -> str:
    return new_id(NAME)

