"""The per-process session registry: lookups never cross applications, and a user's sessions page like rows."""

from __future__ import annotations

from dataclasses import dataclass

from parley.domain.paging import Scan
from parley.realtime.sessions import SessionRegistry


@dataclass
class FakeSession:
    id: str
    application_id: str = "app"
    user_id: str = "USR-1"
    user_name: str = "alice"
    expires: float = 0.0

    def extend(self, expires: float) -> None:
        self.expires = max(self.expires, expires)


def test_sessions_are_found_only_in_their_application_and_removed_once() -> None:
    registry = SessionRegistry()
    mine, theirs = FakeSession("SES-1"), FakeSession("SES-2", application_id="other")
    registry.add(mine)
    registry.add(theirs)
    assert registry.get("app", "SES-1") is mine
    assert registry.get("app", "SES-2") is None
    assert registry.get("other", "SES-1") is None
    registry.remove(FakeSession("SES-1"))  # another object with the same id removes nothing
    assert registry.get("app", "SES-1") is mine
    registry.remove(mine)
    registry.remove(mine)
    assert registry.get("app", "SES-1") is None
    assert registry.of_user("app", "USR-1") == []


def test_a_users_sessions_scan_in_both_directions_from_a_position() -> None:
    registry = SessionRegistry()
    sessions = [FakeSession(f"SES-{i}") for i in range(5)]
    for session in sessions:
        registry.add(session)
    registry.add(FakeSession("SES-bob", user_id="USR-2"))
    forward = registry.scan_user("app", "USR-1", Scan(limit=3, descending=False, after=None))
    assert [s.id for _, s in forward] == ["SES-0", "SES-1", "SES-2"]
    serial = forward[-1][0]
    assert [s.id for _, s in registry.scan_user("app", "USR-1", Scan(3, False, serial))] == ["SES-3", "SES-4"]
    backward = registry.scan_user("app", "USR-1", Scan(limit=2, descending=True, after=serial))
    assert [s.id for _, s in backward] == ["SES-1", "SES-0"]
    assert [s.id for s in registry.of_user("app", "USR-1")] == [s.id for s in sessions]
