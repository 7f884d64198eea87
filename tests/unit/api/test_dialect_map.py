"""The one mapping between the In-App Messaging event names (`/rtc`) and the Conversation API's (`/v2/rtc`,
`/v0.3`): each direction, round trips, and what is left alone."""

from __future__ import annotations

from typing import Any

import pytest

from parley.api.dialect_map import as_legacy, as_modern
from parley.domain.models import Event


def event(kind: str, body: dict[str, Any], event_id: int = 7, deleted: str | None = None) -> Event:
    return Event("CON-1", event_id, kind, "MEM-1", None, body, "2026-01-01T00:00:00.000Z", deleted)


@pytest.mark.parametrize(("legacy", "modern"), [
    (("text", {"text": "hi"}), ("message", {"message_type": "text", "text": "hi"})),
    (("text:seen", {"event_id": 3}), ("message:seen", {"event_id": 3})),
    (("text:delivered", {"event_id": 3}), ("message:delivered", {"event_id": 3})),
    (("text:typing:on", {"activity": 1}), ("ephemeral", {"typing": True})),
    (("text:typing:off", {"activity": 0}), ("ephemeral", {"typing": False})),
])
def test_the_names_map_both_ways(legacy: tuple[str, dict[str, Any]], modern: tuple[str, dict[str, Any]]) -> None:
    mapped = as_modern(event(*legacy))
    assert (mapped.type, mapped.body) == modern
    back = as_legacy(mapped)
    assert (back.type, back.body) == legacy
    assert (mapped.id, mapped.from_member, mapped.timestamp) == (7, "MEM-1", "2026-01-01T00:00:00.000Z")


def test_images_keep_their_url() -> None:
    legacy = event("image", {"representations": {"original": {"url": "https://x/i.jpg", "type": "ORIGINAL"}}})
    modern = as_modern(legacy)
    assert (modern.type, modern.body) == ("message", {"message_type": "image", "image": {"url": "https://x/i.jpg"}})
    back = as_legacy(modern)
    assert back.type == "image"
    assert {k: v["url"] for k, v in back.body["representations"].items()} == {
        "original": "https://x/i.jpg", "medium": "https://x/i.jpg", "thumbnail": "https://x/i.jpg"}
    assert as_legacy(event("image:seen", {"event_id": 1})).type == "image:seen"
    assert as_modern(event("image:seen", {"event_id": 1})).type == "message:seen"


@pytest.mark.parametrize(("kind", "body"), [
    ("message", {"message_type": "audio", "audio": {"url": "https://x/a.mp3"}}),
    ("ephemeral", {"typing": True, "extra": 1}),
    ("ephemeral", {"typing": "yes"}),
    ("custom:poke", {"n": 1}),
    ("event:delete", {"event_id": 3}),
    ("message:submitted", {"event_id": 3}),
])
def test_what_the_legacy_dialect_has_no_name_for_keeps_its_own(kind: str, body: dict[str, Any]) -> None:
    assert as_legacy(event(kind, body)) == event(kind, body)


def test_member_events_get_the_audio_settings_the_modern_sdk_requires() -> None:
    joined = event("member:joined", {"member_id": "MEM-2", "media": {"audio": False}})
    assert as_modern(joined).body["media"] == {"audio": False, "audio_settings": None}
    settled = event("member:joined", {"media": {"audio_settings": {"enabled": True}}})
    assert as_modern(settled) == settled
    assert as_modern(event("member:left", {"media": None})).body["media"] == {"audio_settings": None}
    assert as_legacy(joined) == joined


def test_a_deleted_event_shows_no_content_under_either_name() -> None:
    deleted = event("text", {}, deleted="2026-01-02T00:00:00.000Z")
    assert (as_modern(deleted).type, as_modern(deleted).body) == ("message", {})
