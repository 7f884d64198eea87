"""One conversation, two generations of clients: the In-App Messaging names (nexmo-client <= 4.x on `/rtc`:
`text`, `image`, `text:seen`, `text:typing:on`...) and the Conversation API names (`@vonage/client-sdk` on
`/v2/rtc` and `/v0.3`: `message`, `message:seen`, `ephemeral`...).

Events are stored as they were sent; each dialect sees every event under its own names, mapped here when it is
encoded or listed, so a legacy `text` reaches a modern client as a text `message` and back. Ids, senders and
timestamps never change, so receipts point at the same event in both dialects.

| legacy                                 | modern                                                   |
| ---                                    | ---                                                      |
| `text` {text}                          | `message` {message_type: text, text}                     |
| `image` {representations}              | `message` {message_type: image, image: {url}} (original) |
| `text:seen`, `image:seen`              | `message:seen` {event_id}                                |
| `text:delivered`, `image:delivered`    | `message:delivered` {event_id}                           |
| `text:typing:on` / `off` {activity}    | `ephemeral` {typing: true / false}                       |

A modern receipt reaches a legacy client as `text:seen` / `text:delivered` whatever it acknowledges (the legacy
client applies either to whichever event `body.event_id` names). A modern `message` of another kind (audio,
file, location...) and a modern `ephemeral` that is not a typing flag keep their names: nexmo-client 4.x wraps
unknown types in a generic event.
"""

from __future__ import annotations

import dataclasses

from parley.domain.models import JSON, Event

_RECEIPTS_TO_MODERN = {"text:seen": "message:seen", "image:seen": "message:seen",
                       "text:delivered": "message:delivered", "image:delivered": "message:delivered"}
_RECEIPTS_TO_LEGACY = {"message:seen": "text:seen", "message:delivered": "text:delivered"}
TYPING = {"text:typing:on": True, "text:typing:off": False}


def as_modern(event: Event) -> Event:
    """The event as the Conversation API dialect names it."""
    kind = event.type
    if kind == "text":
        return _renamed(event, "message", {"message_type": "text", "text": event.body.get("text", "")})
    if kind == "image":
        return _renamed(event, "message", {"message_type": "image", "image": {"url": _image_url(event.body)}})
    if kind in _RECEIPTS_TO_MODERN:
        return _renamed(event, _RECEIPTS_TO_MODERN[kind], event.body)
    if kind in TYPING:
        return _renamed(event, "ephemeral", {"typing": TYPING[kind]})
    if kind.startswith("member:"):
        return _with_audio_settings(event)
    return event


def as_legacy(event: Event) -> Event:
    """The event as the In-App Messaging dialect names it."""
    kind, body = event.type, event.body
    if kind == "message" and body.get("message_type") == "text":
        return _renamed(event, "text", {"text": body.get("text", "")})
    if kind == "message" and body.get("message_type") == "image" and isinstance(body.get("image"), dict):
        return _renamed(event, "image", {"representations": _representations(str(body["image"].get("url", "")))})
    if kind in _RECEIPTS_TO_LEGACY:
        return _renamed(event, _RECEIPTS_TO_LEGACY[kind], body)
    if kind == "ephemeral" and set(body) == {"typing"} and isinstance(body["typing"], bool):
        on = body["typing"]
        return _renamed(event, "text:typing:on" if on else "text:typing:off", {"activity": 1 if on else 0})
    return event


def _with_audio_settings(event: Event) -> Event:
    """@vonage/client-sdk requires `media.audio_settings` in member events (null is enough)."""
    media = event.body.get("media")
    media = media if isinstance(media, dict) else {}
    if "audio_settings" in media:
        return event
    return dataclasses.replace(event, body={**event.body, "media": {**media, "audio_settings": None}})


def _renamed(event: Event, kind: str, body: JSON) -> Event:
    # A deleted event keeps its type and an empty body (the stored form): nothing to show of it either way.
    return dataclasses.replace(event, type=kind, body={} if event.deleted else body)


def _image_url(body: JSON) -> str:
    representations = body.get("representations")
    original = representations.get("original") if isinstance(representations, dict) else None
    url = original.get("url") if isinstance(original, dict) else None
    return url if isinstance(url, str) else ""


def _representations(url: str) -> JSON:
    """The IPS shape legacy clients read: the one URL stands for every size."""
    return {kind.lower(): {"url": url, "type": kind} for kind in ("ORIGINAL", "MEDIUM", "THUMBNAIL")}
