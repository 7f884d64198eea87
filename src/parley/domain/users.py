"""Users: check_* validates and authorizes, do_* writes."""

from __future__ import annotations

import re

from parley.domain import ids
from parley.domain.clock import Clock, iso
from parley.domain.errors import DomainError, forbidden, invalid, not_found
from parley.domain.limits import Limits
from parley.domain.members import MemberService
from parley.domain.models import JSON, User
from parley.domain.paging import Page, PageRequest, paginate
from parley.domain.ports import Store
from parley.domain.principal import Principal
from parley.domain.validate import bounded_object, optional_object, optional_str

_CHANNEL_KINDS = ("pstn", "sip", "vbc", "websocket", "sms", "mms", "whatsapp", "viber", "messenger")
# What the SDKs' own models insist on when they read a user back (reference §6.1): a value they would refuse
# must be refused here, or the unmodified Python SDK could no longer read that user.
_CHANNEL_RULES: dict[tuple[str, str], re.Pattern[str]] = {
    ("sip", "uri"): re.compile(r"^(sip|sips):\+?([\w|:.\-@;,=%&]+)", re.ASCII),
    ("websocket", "uri"): re.compile(r"^(ws|wss)://"),
    ("websocket", "content-type"): re.compile(r"^audio/l16;rate=(8000|16000|24000)\Z"),
    ("websocket", "content_type"): re.compile(r"^audio/l16;rate=(8000|16000|24000)\Z"),
}


def check_channels(channels: JSON) -> JSON:
    """The known channel kinds, each a list of objects whose checked fields have the SDKs' formats."""
    checked: JSON = {}
    for kind, entries in channels.items():
        if kind not in _CHANNEL_KINDS:
            continue
        label = f"channels.{kind}"
        if not isinstance(entries, list) or not all(isinstance(entry, dict) for entry in entries):
            raise invalid(label, f'"{label}" must be a list of objects')
        for entry in entries:
            if kind == "pstn" and not (isinstance(entry.get("number"), int) and not isinstance(entry["number"], bool)):
                raise invalid(f"{label}.number", f'"{label}.number" must be a number')
            for (rule_kind, name), pattern in _CHANNEL_RULES.items():
                if rule_kind == kind and name in entry and not (
                        isinstance(entry[name], str) and pattern.match(entry[name])):
                    raise invalid(f"{label}.{name}", f'"{label}.{name}" must match {pattern.pattern}')
        checked[kind] = entries
    return checked


def require_admin(principal: Principal) -> None:
    if not principal.is_admin:
        raise forbidden("This operation needs an admin token (a JWT without a sub claim).")


def check_user_name(name: str) -> None:
    if name == "me" or name.startswith("USR-"):
        raise DomainError("user:error:invalid-user-name",
                          "Username must not be 'me' and it must not start with 'USR-'.")


class UserService:
    def __init__(self, store: Store, clock: Clock, limits: Limits, members: MemberService) -> None:
        self._store = store
        self._members = members
        self._clock = clock
        self._limits = limits

    def _fields(self, body: JSON, current: User | None) -> dict[str, object]:
        """The writable fields present in `body`, validated."""
        limits = self._limits
        fields: dict[str, object] = {}
        if "name" in body:
            name = optional_str(body, "name", limits.max_name_chars, nullable=current is None)
            if name is not None:
                if not name:
                    raise invalid("name", '"name" is not allowed to be empty')
                check_user_name(name)
                fields["name"] = name
        if "display_name" in body:
            fields["display_name"] = optional_str(body, "display_name", limits.max_user_display_name_chars)
        if "image_url" in body:
            fields["image_url"] = optional_str(body, "image_url", limits.max_url_chars)
        if "properties" in body:
            properties = optional_object(body, "properties") or {}
            custom = bounded_object(properties, "custom_data", limits.max_custom_data_bytes,
                                    label="properties.custom_data")
            fields["properties"] = {"custom_data": custom} if custom is not None else {}
        if "channels" in body:
            channels = bounded_object(body, "channels", limits.max_custom_data_bytes) or {}
            fields["channels"] = check_channels(channels)
        return fields

    async def create(self, principal: Principal, body: JSON) -> User:
        require_admin(principal)
        fields = self._fields(body, None)
        user = User(
            application_id=principal.application_id,
            id=ids.new_id(ids.USER),
            name=str(fields.get("name") or ids.generated_name()),
            display_name=fields.get("display_name"),  # type: ignore[arg-type]
            image_url=fields.get("image_url"),  # type: ignore[arg-type]
            properties=fields.get("properties") or {},  # type: ignore[arg-type]
            channels=fields.get("channels") or {},  # type: ignore[arg-type]
            created=iso(self._clock.now()),
            updated=None,
        )
        return await self._store.insert_user(user)

    async def get(self, principal: Principal, user_id: str) -> User:
        user = await self._store.user(principal.application_id, user_id)
        if user is None:
            raise not_found("user")
        return user

    async def get_by_id_or_name(self, principal: Principal, id_or_name: str) -> User:
        """The client SDKs' `getUser(userIdOrName)`: an id first, then a name."""
        app = principal.application_id
        user = await self._store.user(app, id_or_name) or await self._store.user_by_name(app, id_or_name)
        if user is None:
            raise not_found("user")
        return user

    async def update(self, principal: Principal, user_id: str, body: JSON) -> User:
        user = await self.get(principal, user_id)
        if principal.user is not None and principal.user.id != user.id:
            raise forbidden("A user token may only update its own user.")
        fields = self._fields(body, user)
        if principal.user is not None and fields.get("name", user.name) != user.name:
            # user tokens name their user (`sub`): renaming is the application's (admin's) decision
            raise forbidden("Only an admin token may change a user's name.")
        changed = await self._store.update_user(principal.application_id, user.id, fields, iso(self._clock.now()))
        if changed is None:  # deleted meanwhile
            raise not_found("user")
        return changed

    async def delete(self, principal: Principal, user_id: str) -> None:
        require_admin(principal)
        if await self._store.user(principal.application_id, user_id) is None:
            raise not_found("user")
        # Memberships end first: a failure half-way leaves a user that a retry deletes completely. A join that
        # raced the first pass committed before the delete (joins hold the user's row): the second pass ends it.
        await self._members.leave_everywhere(principal.application_id, user_id)
        if not await self._store.delete_user(principal.application_id, user_id, iso(self._clock.now())):
            raise not_found("user")
        await self._members.leave_everywhere(principal.application_id, user_id)

    async def list(self, principal: Principal, request: PageRequest) -> Page[User]:
        name = request.filters.get("name")
        rows = await self._store.users(principal.application_id, request.scan(), name)
        return paginate(rows, request, lambda user: user.seq)
