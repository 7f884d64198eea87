"""Who is calling: an application's admin (a JWT without `sub`) or one of its users."""

from __future__ import annotations

from dataclasses import dataclass

from parley.domain.models import User


@dataclass(frozen=True)
class Principal:
    application_id: str
    user: User | None = None  # None: an admin token

    @property
    def is_admin(self) -> bool:
        return self.user is None
