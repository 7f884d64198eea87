"""The In-App Messaging event shapes nexmo-client 9.x reads (pushed on `/v2/rtc`, listed by `/beta2`), and which
`/v2/rtc` clients get them."""

from __future__ import annotations

import dataclasses
import json

from parley.api import inapp
from parley.api.socket.v2 import EphemeralFrame, encode_event, encode_inapp_event, encoder_for
from parley.domain.models import Event, UserRef

CID, ALICE, BOB = "CON-1", "MEM-a", "MEM-b"
ALICE_USER = UserRef("USR-a", "alice", "Alice", None)


def test_a_text_message_is_a_text_from_its_sender() -> None:
    message = Event(CID, 7, "message", ALICE, None, {"message_type": "text", "text": "hi"}, "T", from_user=ALICE_USER)
    assert inapp.event_with_sender(message) == {
        "id": 7, "type": "text", "cid": CID, "body": {"text": "hi"}, "timestamp": "T", "from": ALICE,
        "_embedded": {"from_member": {"id": ALICE}, "from_user": {"id": "USR-a", "name": "alice",
                                                                  "display_name": "Alice"}}}


def test_a_member_event_is_from_the_member_it_is_about() -> None:
    # alice invited bob: the event is about bob, so it is "from" bob, and the client sees whether it is its own
    body = {"member_id": BOB, "user": {"id": "USR-b", "user_id": "USR-b", "name": "bob", "display_name": None},
            "timestamp": {"invited": "T"}}
    invited = Event(CID, 3, "member:invited", ALICE, None, body, "T", from_user=ALICE_USER)
    shown = inapp.event_with_sender(invited)
    assert shown["from"] == BOB
    assert shown["_embedded"] == {"from_member": {"id": BOB}, "from_user": {"id": "USR-b", "name": "bob"}}


def test_typing_has_no_id() -> None:
    # nexmo-client 9.x queues events with a numeric id in id order; typing must bypass the queue
    typing = Event(CID, 0, "ephemeral", BOB, None, {"typing": True}, "T")
    shown = inapp.event_with_sender(typing)
    assert "id" not in shown
    assert (shown["type"], shown["body"]) == ("text:typing:on", {"activity": 1})
    assert isinstance(encode_inapp_event(typing), EphemeralFrame)  # never kept for a returning client
    assert not isinstance(encode_inapp_event(dataclasses.replace(typing, id=3)), EphemeralFrame)


def test_nexmo_client_9_gets_in_app_names_and_the_client_sdk_modern_ones() -> None:
    assert encoder_for({"SDK_version": "9.5.1", "session_version": "0.0.1"}) is encode_inapp_event
    assert encoder_for({"SDK_version": "2.3.1", "SDK_name": "@vonage/client-sdk"}) is encode_event
    assert encoder_for({"SDK_version": "1.4.0"}) is encode_event
    assert encoder_for({}) is encode_event
    text = Event(CID, 2, "text", ALICE, None, {"text": "hi"}, "T")
    frame = encode_inapp_event(text)
    assert frame.startswith('42["text",')
    assert json.loads(frame[2:])[1]["body"] == {"text": "hi"}
