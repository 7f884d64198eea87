"""`/v2/rtc` speaks two event vocabularies: nexmo-client 9.x (the hybrid dialect) gets the In-App Messaging
names it handles (`text`, `text:typing:on`, `member:*` from the member they are about), `@vonage/client-sdk` the
Conversation API's (`message`, `ephemeral`). Driven by a Python client with each SDK's handshake query."""

from __future__ import annotations

import time

from tests.e2e.conftest import Server
from tests.e2e.test_legacy_socket import admin_post, user_token
from tests.e2e.test_v2_socket import acked_event, event, send_text, session, setup_conversation

NEXMO_CLIENT_9 = "&SDK_version=9.5.1&session_version=0.0.1&OS_family=js"
CLIENT_SDK = "&SDK_version=2.3.1&SDK_name=@vonage/client-sdk&session_version=0.0.3&OS_family=js"


def test_each_client_generation_gets_its_own_names(parley_server: Server) -> None:
    suffix = time.time_ns()
    alice, hybrid, modern, carol = (f"v2h-{who}-{suffix}" for who in ("alice", "hybrid", "modern", "carol"))
    cid, members = setup_conversation(parley_server, [alice, hybrid, modern])
    with session(parley_server, user_token(parley_server, hybrid), NEXMO_CLIENT_9) as (old, _), \
            session(parley_server, user_token(parley_server, modern), CLIENT_SDK) as (new, _):
        sent = send_text(parley_server, cid, members[alice], "hi")
        _, name, pushed = acked_event(old)
        assert (name, pushed["id"], pushed["cid"], pushed["body"], pushed["from"]) == (
            "text", sent["id"], cid, {"text": "hi"}, members[alice])
        assert pushed["_embedded"]["from_member"] == {"id": members[alice]}
        assert pushed["_embedded"]["from_user"]["name"] == alice
        _, name, pushed = acked_event(new)
        assert (name, pushed["id"], pushed["body"]) == ("message", sent["id"], {"message_type": "text", "text": "hi"})

        # typing: no id for nexmo-client 9.x, whose ordering queue would otherwise hold it back (and, like every
        # ephemeral event, no ack id either: never kept for a returning client)
        admin_post(parley_server, f"/v1/conversations/{cid}/events",
                   {"type": "text:typing:on", "from": members[alice], "body": {"activity": 1}})
        name, pushed = event(old)
        assert (name, "id" in pushed, pushed["body"]) == ("text:typing:on", False, {"activity": 1})
        assert event(new)[0] == "ephemeral"

        # a member event is from the member it is about, and names that member's user
        admin_post(parley_server, "/v1/users", {"name": carol})
        invited = admin_post(parley_server, f"/v1/conversations/{cid}/members",
                             {"state": "invited", "user": {"name": carol}, "channel": {"type": "app"},
                              "member_id_inviting": members[alice]})
        _, name, pushed = acked_event(old)
        assert (name, pushed["from"], pushed["_embedded"]["from_member"]["id"]) == (
            "member:invited", invited["id"], invited["id"])
        assert pushed["_embedded"]["from_user"]["name"] == carol
        _, name, pushed = acked_event(new)
        assert (name, pushed["from"]) == ("member:invited", members[alice])
