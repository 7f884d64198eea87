"""The `/v2/rtc` dialect (Engine.IO 4) driven by a Python client, for what the SDKs never send or never show:
malformed frames, other namespaces, EIO=3 on this path, tokens of another application, acknowledgements, and a
session resumed by `session_id` getting what it missed, in order, exactly once."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from websockets.exceptions import InvalidStatus
from websockets.sync.client import ClientConnection, connect

from tests.e2e.conftest import Server
from tests.e2e.test_legacy_socket import admin_post, user_token


def socket_url(server: Server, query: str) -> str:
    return server.url.replace("http://", "ws://") + f"/v2/rtc/?{query}&EIO=4&transport=websocket"


@contextmanager
def opened(server: Server, query: str) -> Iterator[ClientConnection]:
    """An Engine.IO 4 socket after its open packet, before the socket.io CONNECT."""
    with connect(socket_url(server, query), open_timeout=5) as socket:
        opening = str(socket.recv(timeout=5))
        assert opening.startswith("0")
        assert set(json.loads(opening[1:])) == {"sid", "upgrades", "pingInterval", "pingTimeout", "maxPayload"}
        yield socket


@contextmanager
def session(server: Server, token: str, extra: str = "") -> Iterator[tuple[ClientConnection, dict[str, Any]]]:
    """Connected and logged in: yields the socket and the `session:success` body."""
    with opened(server, f"token={token}&acknowledge_events=true{extra}") as socket:
        socket.send("40")
        assert str(socket.recv(timeout=5)).startswith('40{"sid":')
        name, payload = event(socket)
        assert name == "session:success", payload
        yield socket, payload["body"]


def event(socket: ClientConnection) -> tuple[str, dict[str, Any]]:
    """The next socket.io event (skipping the server's pings), without its ack id."""
    frame = str(socket.recv(timeout=5))
    while frame == "2":
        socket.send("3")
        frame = str(socket.recv(timeout=5))
    assert frame.startswith("42"), frame
    name, payload = json.loads(frame[frame.index("["):])
    return name, payload


def acked_event(socket: ClientConnection) -> tuple[int, str, dict[str, Any]]:
    frame = str(socket.recv(timeout=5))
    assert frame.startswith("42") and frame[2].isdigit(), frame
    start = frame.index("[")
    name, payload = json.loads(frame[start:])
    return int(frame[2:start]), name, payload


def quiet(socket: ClientConnection) -> None:
    """Nothing else is queued for this socket: an Engine.IO 4 client may not ping, so ask for an ack instead."""
    socket.send('42999["no:such:request",{"tid":"probe"}]')
    assert str(socket.recv(timeout=5)).startswith("43999[")


def setup_conversation(server: Server, names: list[str]) -> tuple[str, dict[str, str]]:
    suffix = time.time_ns()
    cid = admin_post(server, "/v1/conversations", {"name": f"v2-{suffix}"})["id"]
    members = {}
    for name in names:
        admin_post(server, "/v1/users", {"name": name})
        members[name] = admin_post(server, f"/v1/conversations/{cid}/members",
                                   {"state": "joined", "user": {"name": name}, "channel": {"type": "app"}})["id"]
    return cid, members


def send_text(server: Server, cid: str, member: str, text: str) -> dict[str, Any]:
    return admin_post(server, f"/v1/conversations/{cid}/events",
                      {"type": "message", "from": member, "body": {"message_type": "text", "text": text}})


def test_engineio3_is_not_served_on_v2_rtc(parley_server: Server) -> None:
    url = parley_server.url.replace("http://", "ws://") + "/v2/rtc/?EIO=3&transport=websocket"
    with pytest.raises(InvalidStatus), connect(url, open_timeout=5):
        pass


def test_bad_frames_get_error_replies_and_the_socket_stays_healthy(parley_server: Server) -> None:
    name = f"v2-frames-{time.time_ns()}"
    admin_post(parley_server, "/v1/users", {"name": name})
    with session(parley_server, user_token(parley_server, name)) as (socket, _):
        socket.send("not engine.io")  # ignored
        socket.send("42[not json")
        assert event(socket)[0] == "system:error:invalid-event"
        socket.send('42["no:such:request",{"tid":"t1"}]')
        assert event(socket) == ("system:error:invalid-event", {
            "rid": "t1", "type": "system:error:invalid-event",
            "description": "Unknown or unsupported request 'no:such:request'."})
        socket.send('40/admin,')
        assert str(socket.recv(timeout=5)) == '44/admin,{"message":"Invalid namespace"}'
        socket.send('3')  # an unsolicited pong is harmless
        # a request with an ack id is answered by the ack
        socket.send('427["session:update-token",{"tid":"t2","body":{"token":"garbage"}}]')
        reply = json.loads(str(socket.recv(timeout=5))[3:])
        assert reply == [{"type": "system:error:invalid-token", "rid": "t2",
                          "description": "You did not provide a valid token. Please provide a valid token."}]
        quiet(socket)
        socket.send('42["session:logout",{"tid":"t3","body":{}}]')
        assert event(socket) == ("session:logged-out", {"rid": "t3", "body": {}})
        assert str(socket.recv(timeout=5)) == "41"  # the session is over: the server disconnects


def test_tokens_of_another_application_are_refused(parley_server: Server) -> None:
    name = f"v2-other-{time.time_ns()}"
    admin_post(parley_server, "/v1/users", {"name": name})
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = int(time.time())
    forged = jwt.encode({"application_id": parley_server.app_id, "iat": now, "exp": now + 600, "sub": name},
                        other_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                serialization.NoEncryption()), algorithm="RS256")
    unknown_app = jwt.encode({"application_id": "00000000-0000-4000-8000-000000000000", "iat": now,
                              "exp": now + 600, "sub": name},
                             parley_server.private_key.read_text(), algorithm="RS256")
    for token in (forged, unknown_app, ""):
        with opened(parley_server, f"token={token}") as socket:
            socket.send("40")
            assert str(socket.recv(timeout=5)).startswith('40{"sid":')
            assert event(socket)[0] == "system:error:invalid-token"
            assert str(socket.recv(timeout=5)) == "41"


def test_a_resumed_session_gets_what_it_missed_in_order_exactly_once(parley_server: Server) -> None:
    suffix = time.time_ns()
    alice, bob = f"v2-alice-{suffix}", f"v2-bob-{suffix}"
    cid, members = setup_conversation(parley_server, [alice, bob])
    token = user_token(parley_server, bob)
    with session(parley_server, token) as (socket, first):
        sent_1 = send_text(parley_server, cid, members[alice], "one")
        ack_1, name, pushed = acked_event(socket)
        assert (name, pushed["id"], pushed["cid"], pushed["body"]) == (
            "message", sent_1["id"], cid, {"message_type": "text", "text": "one"})
        assert pushed["_embedded"]["from_member"] == {"id": members[alice]}
        socket.send(f"43{ack_1}[]")
        sent_2 = send_text(parley_server, cid, members[alice], "two")
        ack_2, _, pushed = acked_event(socket)
        assert pushed["id"] == sent_2["id"]  # received but never acknowledged: in flight when the socket dropped
    sent_3 = send_text(parley_server, cid, members[alice], "three")  # while bob is away
    sent_4 = send_text(parley_server, cid, members[alice], "four")
    with session(parley_server, token, f"&session_id={first['id']}") as (socket, resumed):
        assert resumed == first  # the same session
        replayed = [acked_event(socket) for _ in range(3)]
        assert [payload["id"] for _, _, payload in replayed] == [sent_2["id"], sent_3["id"], sent_4["id"]]
        assert replayed[0][0] == ack_2
        for ack_id, _, _ in replayed:
            socket.send(f"43{ack_id}[]")
        quiet(socket)
    with session(parley_server, token, f"&session_id={first['id']}") as (socket, again):
        assert again == first
        quiet(socket)  # everything was acknowledged: nothing is replayed twice
    # and the app's own fetch lists them once each, in order, under the Conversation API's names
    request = urllib.request.Request(
        f"{parley_server.url}/v0.3/conversations/{cid}/events?order=asc&page_size=100"
        "&filter_group_type=ChatEvents&exclude_deleted_events=true",
        headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=5) as response:
        listed = json.loads(response.read())["_embedded"]["events"]
    texts = [(e["id"], e["body"]["text"]) for e in listed if e["type"] == "message"]
    assert texts == [(sent["id"], text) for sent, text in
                     ((sent_1, "one"), (sent_2, "two"), (sent_3, "three"), (sent_4, "four"))]


def test_a_session_id_of_another_user_starts_a_new_session(parley_server: Server) -> None:
    suffix = time.time_ns()
    alice, bob = f"v2-a-{suffix}", f"v2-b-{suffix}"
    for name in (alice, bob):
        admin_post(parley_server, "/v1/users", {"name": name})
    with session(parley_server, user_token(parley_server, alice)) as (_, alices), \
            session(parley_server, user_token(parley_server, bob), f"&session_id={alices['id']}") as (_, bobs):
        assert bobs["id"] != alices["id"] and bobs["name"] == bob


def get(server: Server, path: str, token: str) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(path if path.startswith("http") else server.url + path,
                                     headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_a_users_open_sessions_are_listed_and_paged(parley_server: Server) -> None:
    suffix = time.time_ns()
    alice, bob = f"v2-list-a-{suffix}", f"v2-list-b-{suffix}"
    user = admin_post(parley_server, "/v1/users", {"name": alice})
    admin_post(parley_server, "/v1/users", {"name": bob})
    token = user_token(parley_server, alice)
    with session(parley_server, token) as (_, first), session(parley_server, token) as (_, second), \
            session(parley_server, token) as (_, third):
        for prefix in ("/v1", "/v0.3"):
            status, page = get(parley_server, f"{prefix}/users/{user['id']}/sessions?page_size=2", token)
            assert status == 200, page
            listed = page["_embedded"]["sessions"]
            status, rest = get(parley_server, page["_links"]["next"]["href"], token)
            assert status == 200 and "next" not in rest["_links"]
            listed += rest["_embedded"]["sessions"]
            assert [s["id"] for s in listed] == [first["id"], second["id"], third["id"]]
            assert listed[0]["_embedded"] == {"user": {"id": user["id"], "name": alice},
                                              "api_key": parley_server.app_id}
            assert 0 < listed[0]["properties"]["ttl"] <= 600 + 30  # the token's life and the skew allowance
        status, error = get(parley_server, f"/v1/users/{user['id']}/sessions", user_token(parley_server, bob))
        assert (status, error["code"]) == (403, "system:error:permission")
