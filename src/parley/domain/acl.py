"""JWT `acl.paths` matching.

The format is Vonage's: keys are path patterns where `*` matches one path segment and `**` matches the rest
(including nothing, so `/*/users/**` grants `/v1/users` as well as `/v1/users/USR-1`); a rule may restrict
`methods`. The algorithm is not specified by Vonage; this is the reading under which the documented standard
Client-SDK ACL grants what its documentation says it grants.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any


@lru_cache(maxsize=1024)
def _compile(pattern: str) -> re.Pattern[str]:
    parts = []
    for index, segment in enumerate(pattern.strip("/").split("/")):
        if segment == "**":
            parts.append("(?:/.*)?")
            continue
        literal = "/" + re.escape(segment).replace(r"\*\*", ".*").replace(r"\*", "[^/]*")
        parts.append(literal if index or segment else "/")
    return re.compile("".join(parts) + "/?")


def path_allowed(acl: Any, method: str, path: str) -> bool:
    """True when `acl` (the decoded claim) grants `method path`. No claim at all grants everything."""
    if acl is None:
        return True
    paths = acl.get("paths") if isinstance(acl, Mapping) else None
    if not isinstance(paths, Mapping):
        return False
    for pattern, rule in paths.items():
        if not isinstance(pattern, str) or not _compile(pattern).fullmatch(path):
            continue
        methods = rule.get("methods") if isinstance(rule, Mapping) else None
        if methods is None or (isinstance(methods, list) and method.upper() in {str(m).upper() for m in methods}):
            return True
    return False
