"""RS256 application JWTs: who is calling, for which application, and may they call this path.

Claims follow the Vonage tools: `application_id` picks the tenant; no `sub` = an admin token, `sub` = a user's
name; `acl.paths` restricts paths. `exp` is optional (then 15 minutes from `iat`), may be a numeric string, and
is capped at 24 h after `iat`.

Verified tokens are cached by their text until they expire: the client SDKs reuse one token for a whole session,
and an RSA verification costs far more than the rest of a small request.

A browser's request (one with an `Origin` other than the server's own) must come from an origin its application
allows: the application's own list, or the server's (PARLEY_CORS_ORIGINS) when it has none (see `cors.py`).
"""

from __future__ import annotations

import contextlib
import math
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, TypeGuard

import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from parley.api.cors import Origins
from parley.api.errors import invalid_token
from parley.domain.acl import path_allowed
from parley.domain.errors import DomainError, forbidden, not_found
from parley.domain.models import User
from parley.domain.ports import Store
from parley.domain.principal import Principal

DEFAULT_TTL = 15 * 60
MAX_LIFETIME = 24 * 60 * 60


@dataclass(frozen=True)
class Claims:
    application_id: str
    sub: str | None
    acl: Any
    expires: float


@dataclass(frozen=True)
class SessionGrant:
    principal: Principal
    acl: Any
    expires: float  # epoch seconds

    def allows(self, method: str, path: str) -> bool:
        return path_allowed(self.acl, method, path)


def _number(value: Any, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise invalid_token(f"The token's {name} claim is not a number.")
    number: float | None = None
    if isinstance(value, int | float):
        with contextlib.suppress(OverflowError):  # an int beyond a float's range
            number = float(value)
    elif isinstance(value, str):
        with contextlib.suppress(ValueError, OverflowError):
            number = float(value)
    if number is None or not math.isfinite(number):  # NaN or infinity would never expire
        raise invalid_token(f"The token's {name} claim is not a number.")
    return number


def _is_uuid(value: Any) -> TypeGuard[str]:
    """Application ids are UUIDs, in the canonical lower-case form the CLI stores."""
    if not isinstance(value, str) or len(value) != 36:
        return False
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False


def _is_text(value: str) -> bool:
    """Encodable as UTF-8 (JSON can carry lone surrogates that no database accepts)."""
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True


def bearer_token(header: str | None) -> str:
    if not header:
        raise DomainError("system:error:missing-token", "You did not provide a token. Please provide a valid token.")
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise invalid_token()
    return token.strip()


@dataclass(frozen=True)
class _Tenant:
    """What authentication needs of an application: its public key and the browser origins it allows."""

    key: RSAPublicKey
    origins: Origins


class _KeyCache:
    """Applications' public keys and allowed origins, re-read from the store every `ttl` seconds: applications
    change through the CLI, in another process, so a deleted application's tokens stop working, and a changed
    list of origins applies, within `ttl`."""

    def __init__(self, store: Store, ttl: float, origins: Origins) -> None:
        self._store = store
        self._ttl = ttl
        self._origins = origins  # the server's
        self._tenants: dict[str, tuple[float, _Tenant | None]] = {}

    async def tenant(self, application_id: str) -> _Tenant | None:
        now = time.monotonic()
        cached = self._tenants.get(application_id)
        if cached is not None and cached[0] > now:
            return cached[1]
        if self._ttl <= 0:
            self._tenants.pop(application_id, None)
        application = await self._store.application(application_id)
        tenant = None
        if application is not None:
            key = load_pem_public_key(application.public_key_pem.encode())
            if isinstance(key, RSAPublicKey):
                tenant = _Tenant(key, self._origins.of_application(application.origins))
        if len(self._tenants) > 10_000:
            self._tenants.clear()
        self._tenants[application_id] = (now + self._ttl, tenant)
        return tenant


class _UserCache:
    """Users by name for user tokens, re-read every `ttl` seconds: one indexed SELECT per request was a tenth of
    a small request's cost. A renamed or deleted user's tokens follow within `ttl`, like a deleted application's."""

    def __init__(self, store: Store, ttl: float) -> None:
        self._store = store
        self._ttl = ttl
        self._users: dict[tuple[str, str], tuple[float, User]] = {}

    async def user(self, application_id: str, name: str) -> User:
        now = time.monotonic()
        key = (application_id, name)
        cached = self._users.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        user = await self._store.user_by_name(application_id, name)
        if user is None:
            self._users.pop(key, None)
            raise not_found("user")
        if self._ttl > 0:
            if len(self._users) > 100_000:
                self._users.clear()
            self._users[key] = (now + self._ttl, user)
        return user


class Authenticator:
    def __init__(self, store: Store, clock_skew: float = 30.0, max_lifetime: float = MAX_LIFETIME,
                 cache_size: int = 10_000, key_cache_seconds: float = 5.0, origins: Origins | None = None) -> None:
        self._store = store
        self._skew = clock_skew
        self._max_lifetime = max_lifetime
        self._keys = _KeyCache(store, key_cache_seconds, origins or Origins(["*"]))
        self._users = _UserCache(store, key_cache_seconds)
        self._verified: OrderedDict[str, Claims] = OrderedDict()
        self._cache_size = cache_size

    async def claims(self, token: str) -> Claims:
        now = time.time()
        cached = self._verified.get(token)
        if cached is not None:
            # The application may have been deleted since: the key cache notices within its TTL.
            if cached.expires + self._skew > now and await self._keys.tenant(cached.application_id) is not None:
                return cached
            del self._verified[token]
        claims = await self._verify(token, now)
        self._verified[token] = claims
        if len(self._verified) > self._cache_size:
            self._verified.popitem(last=False)
        return claims

    async def _verify(self, token: str, now: float) -> Claims:
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError as exc:
            raise invalid_token() from exc
        application_id = unverified.get("application_id")
        if header.get("alg") != "RS256" or not _is_uuid(application_id):  # checked before any lookup
            raise invalid_token()
        tenant = await self._keys.tenant(application_id)
        if tenant is None:
            raise invalid_token()
        try:
            payload = jwt.decode(token, tenant.key, algorithms=["RS256"],
                                 options={"verify_exp": False, "verify_iat": False, "verify_nbf": False,
                                          "verify_aud": False, "verify_iss": False})
        except jwt.PyJWTError as exc:
            raise invalid_token() from exc
        return Claims(application_id, self._subject(payload), payload.get("acl"), self._expiry(payload, now))

    def _expiry(self, payload: dict[str, Any], now: float) -> float:
        issued, expires, not_before = (_number(payload.get(k), k) for k in ("iat", "exp", "nbf"))
        if issued is None and expires is None:
            raise invalid_token("The token has neither iat nor exp.")
        if issued is not None and issued > now + self._skew:
            raise invalid_token("The token was issued in the future.")
        if not_before is not None and not_before > now + self._skew:
            raise invalid_token("The token is not valid yet.")
        if expires is None:
            expires = (issued or now) + DEFAULT_TTL
        if issued is not None:
            expires = min(expires, issued + self._max_lifetime)
        elif expires > now + self._max_lifetime + self._skew:  # without iat the cap cannot be applied
            raise invalid_token("The token lives longer than allowed and has no iat.")
        if expires + self._skew <= now:
            raise DomainError("system:error:expired-token", "The token has expired. Please provide a valid token.")
        return expires

    @staticmethod
    def _subject(payload: dict[str, Any]) -> str | None:
        sub = payload.get("sub")
        if sub is None:
            return None
        if not isinstance(sub, str) or not sub or "\x00" in sub or len(sub) > 1_000 or not _is_text(sub):
            raise invalid_token("The token's sub claim is not a user name.")
        return sub

    async def session(self, token: str, path: str, origin: str | None = None) -> SessionGrant:
        """A socket login: the token's user, its ACL (checked on every later request of the session) and the
        time after which the session has expired. `origin`: the socket's, when not the server's own."""
        claims = await self.claims(token)
        principal = await self._principal(claims, "GET", path, origin)
        if principal.user is None:
            raise invalid_token("A session token names its user in the sub claim.")
        return SessionGrant(principal, claims.acl, claims.expires + self._skew)

    async def principal(self, authorization: str | None, method: str, path: str,
                        origin: str | None = None) -> Principal:
        """The caller; `origin`: the request's `Origin` when it is not the server's own (`cors.cross_origin`)."""
        return await self._principal(await self.claims(bearer_token(authorization)), method, path, origin)

    async def _principal(self, claims: Claims, method: str, path: str, origin: str | None) -> Principal:
        if not path_allowed(claims.acl, "GET" if method == "HEAD" else method, path):
            raise forbidden("The token's ACL does not allow this request.")
        if origin is not None:
            await self._check_origin(claims.application_id, origin)
        if claims.sub is None:
            return Principal(claims.application_id)
        return Principal(claims.application_id, await self._users.user(claims.application_id, claims.sub))

    async def _check_origin(self, application_id: str, origin: str) -> None:
        tenant = await self._keys.tenant(application_id)
        if tenant is None:  # deleted since its token was verified
            raise invalid_token("The application no longer exists.")
        if not tenant.origins.admits(origin):
            raise forbidden(f"The origin {origin} may not use this application: it is not in "
                            f"{tenant.origins.source}.")
