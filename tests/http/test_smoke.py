from __future__ import annotations

from tests.conftest import Api


async def test_text_round_trip(api: Api) -> None:
    await api.user("alice")
    conversation = await api.conversation("chat")
    member = await api.member(conversation["id"], "alice")
    sent = await api.text(conversation["id"], member["id"], "hello")
    assert sent["id"] == 2
    assert sent["body"] == {"message_type": "text", "text": "hello"}
    got = await api.ok("GET", f"/v1/conversations/{conversation['id']}")
    assert got["sequence_number"] == 2
