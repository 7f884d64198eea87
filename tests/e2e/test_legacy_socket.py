"""The `/rtc` dialect driven by a Python client, for what the JS SDKs never send: malformed frames, unknown
requests, requests before login, the Engine.IO 3 ping."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import jwt
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from tests.e2e.conftest import Server


@contextmanager
def rtc(server: Server) -> Iterator[ClientConnection]:
    with connect(server.url.replace("http://", "ws://") + "/rtc/?EIO=3&transport=websocket",
                 open_timeout=5) as socket:
        opening = str(socket.recv(timeout=5))
        assert opening.startswith("0")
        assert set(json.loads(opening[1:])) == {"sid", "upgrades", "pingInterval", "pingTimeout"}
        assert socket.recv(timeout=5) == "40"
        yield socket


def request(socket: ClientConnection, name: str, payload: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    socket.send("42" + json.dumps([name, payload]))
    frame = str(socket.recv(timeout=5))
    assert frame.startswith("42"), frame
    reply_name, reply = json.loads(frame[2:])
    return reply_name, reply


def user_token(server: Server, name: str) -> str:
    now = int(time.time())
    return jwt.encode({"application_id": server.app_id, "iat": now, "exp": now + 600, "sub": name},
                      server.private_key.read_text(), algorithm="RS256")


def admin_post(server: Server, path: str, body: dict[str, Any]) -> dict[str, Any]:
    now = int(time.time())
    token = jwt.encode({"application_id": server.app_id, "iat": now, "exp": now + 600},
                       server.private_key.read_text(), algorithm="RS256")
    request_ = urllib.request.Request(server.url + path, data=json.dumps(body).encode(), method="POST",
                                      headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request_, timeout=5) as response:
        result: dict[str, Any] = json.loads(response.read())
    return result


def test_the_socket_survives_bad_frames_and_answers_by_rid(parley_server: Server) -> None:
    with rtc(parley_server) as socket:
        socket.send("2probe")
        assert socket.recv(timeout=5) == "3probe"  # Engine.IO 3: the client pings, the server pongs
        socket.send("not engine.io")  # ignored
        assert request(socket, "no:such:request", {"tid": "t1"}) == (
            "system:error:invalid-event",
            {"rid": "t1", "type": "system:error:invalid-event",
             "description": "Unknown or unsupported request 'no:such:request'."})
        socket.send("42[not json")
        name, reply = json.loads(str(socket.recv(timeout=5))[2:])
        assert name == "system:error:invalid-event" and "not JSON" in reply["description"]
        name, reply = request(socket, "user:conversations", {"tid": "t2"})
        assert (name, reply["rid"]) == ("session:invalid", "t2")  # not logged in yet
        name, reply = request(socket, "session:login", {"tid": "t3", "body": {}})
        assert (name, reply["rid"]) == ("session:error:invalid-token", "t3")
        socket.send("2")
        assert socket.recv(timeout=5) == "3"  # still healthy


def test_login_then_logout(parley_server: Server) -> None:
    name = f"py-{time.time_ns()}"
    created = admin_post(parley_server, "/v1/users", {"name": name})
    with rtc(parley_server) as socket:
        login = {"tid": "a", "body": {"token": user_token(parley_server, name)}}
        reply_name, reply = request(socket, "session:login", login)
        assert reply_name == "session:success"
        assert reply["rid"] == "a"
        assert reply["body"]["user_id"] == created["id"] and reply["body"]["name"] == name
        assert reply["body"]["id"].startswith("SES-")
        assert request(socket, "user:conversations", {"tid": "b"}) == ("user:conversations:success",
                                                                       {"rid": "b", "body": []})
        assert request(socket, "session:logout", {"tid": "c", "body": {}})[0] == "session:logged-out"
        assert request(socket, "user:conversations", {"tid": "d"})[0] == "session:invalid"


def test_only_engineio3_websocket_is_served(parley_server: Server) -> None:
    url = parley_server.url.replace("http://", "ws://") + "/rtc/?EIO=4&transport=websocket"
    # the handshake is refused: Engine.IO 4 lives on /v2/rtc
    with pytest.raises(InvalidStatus), connect(url, open_timeout=5):
        pass


def test_text_reaches_every_joined_member_and_is_idempotent_by_tid(parley_server: Server) -> None:
    suffix = time.time_ns()
    alice, bob, carol = (f"{n}-{suffix}" for n in ("alice", "bob", "carol"))
    for name in (alice, bob, carol):
        admin_post(parley_server, "/v1/users", {"name": name})
    conversation = admin_post(parley_server, "/v1/conversations", {"name": f"chat-{suffix}"})
    cid = conversation["id"]
    members = {name: admin_post(parley_server, f"/v1/conversations/{cid}/members",
                                {"state": "joined", "user": {"name": name}, "channel": {"type": "app"}})["id"]
               for name in (alice, bob)}
    admin_post(parley_server, f"/v1/conversations/{cid}/members",
               {"state": "invited", "user": {"name": carol}, "channel": {"type": "app"}})
    with rtc(parley_server) as a, rtc(parley_server) as b, rtc(parley_server) as c:
        for socket, name in ((a, alice), (b, bob), (c, carol)):
            login = {"tid": f"login-{name}", "body": {"token": user_token(parley_server, name)}}
            assert request(socket, "session:login", login)[0] == "session:success"
        text = {"tid": "t-1", "cid": cid, "from": members[alice], "body": {"text": "hello"}}
        a.send("42" + json.dumps(["text", text]))
        frames = [json.loads(str(a.recv(timeout=5))[2:]) for _ in range(2)]  # the pushed copy and the reply
        reply = next(body for name, body in frames if name == "text:success")
        assert reply["rid"] == "t-1" and isinstance(reply["body"]["id"], int)
        pushed_name, pushed = json.loads(str(b.recv(timeout=5))[2:])
        assert pushed_name == "text"
        assert (pushed["id"], pushed["cid"], pushed["from"], pushed["body"]) == (
            reply["body"]["id"], cid, members[alice], {"text": "hello"})
        # a retry of the same request (same tid) gets the original event, and nobody gets a second copy
        assert request(a, "text", text) == ("text:success", reply)
        b.send("2")
        assert b.recv(timeout=5) == "3"  # the next frame bob gets is the pong: no duplicate text
        c.send("2")
        assert c.recv(timeout=5) == "3"  # carol is only invited: she got no text


def login(socket: ClientConnection, server: Server, name: str, **claims: Any) -> dict[str, Any]:
    now = int(time.time())
    token = jwt.encode({"application_id": server.app_id, "iat": now, "exp": now + 600, "sub": name, **claims},
                       server.private_key.read_text(), algorithm="RS256")
    reply_name, reply = request(socket, "session:login", {"tid": f"login-{name}", "body": {"token": token}})
    assert reply_name == "session:success", reply
    return reply


def next_event(socket: ClientConnection) -> tuple[str, dict[str, Any]]:
    name, payload = json.loads(str(socket.recv(timeout=15))[2:])
    return name, payload


def test_update_token_extends_a_session_and_an_expired_one_is_told(parley_server: Server) -> None:
    name = f"exp-{time.time_ns()}"
    admin_post(parley_server, "/v1/users", {"name": name})
    other = f"other-{time.time_ns()}"
    admin_post(parley_server, "/v1/users", {"name": other})
    with rtc(parley_server) as socket:
        # valid for ~5 more seconds: the server allows 30 s of clock skew past exp
        login(socket, parley_server, name, exp=int(time.time()) - 25)
        assert next_event(socket)[0] == "session:error:expired-token"  # pushed when it runs out
        assert request(socket, "user:conversations", {"tid": "u1"})[0] == "session:error:expired-token"
        refused = request(socket, "session:update-token",
                          {"tid": "u2", "body": {"token": user_token(parley_server, other)}})
        assert refused[0] == "session:error:invalid-token"  # another user's token cannot take the session over
        assert request(socket, "session:update-token", {"tid": "u3", "body": {"token": "x.y.z"}})[0] == \
            "session:error:invalid-token"
        renewed = request(socket, "session:update-token",
                          {"tid": "u4", "body": {"token": user_token(parley_server, name)}})
        assert renewed == ("session:update-token:success", {"rid": "u4", "body": {}})
        assert request(socket, "user:conversations", {"tid": "u5"}) == ("user:conversations:success",
                                                                        {"rid": "u5", "body": []})


@contextmanager
def two_users(server: Server) -> Iterator[tuple[str, ClientConnection, str, ClientConnection]]:
    """Alice and Bob, each logged in on a socket of their own."""
    suffix = time.time_ns()
    alice, bob = f"alice-{suffix}", f"bob-{suffix}"
    for name in (alice, bob):
        admin_post(server, "/v1/users", {"name": name})
    with rtc(server) as a, rtc(server) as b:
        login(a, server, alice)
        login(b, server, bob)
        yield alice, a, bob, b


def test_history_carries_receipt_maps_unread_counts_and_a_gap_flag(parley_server: Server) -> None:
    with two_users(parley_server) as (alice, a, bob, b):
        cid = request_skipping_pushes(a, "new:conversation", {"tid": "n", "body": {}})["body"]["id"]
        a_member = request_skipping_pushes(a, "conversation:join", {"tid": "j", "cid": cid,
                                                                    "body": {"user_name": alice}})["body"]["id"]
        b_member = request_skipping_pushes(b, "conversation:join", {"tid": "k", "cid": cid,
                                                                    "body": {"user_name": bob}})["body"]["id"]
        text_ids = [request_skipping_pushes(a, "text", {"tid": f"t{i}", "cid": cid, "from": a_member,
                                                        "body": {"text": f"hi {i}"}})["body"]["id"]
                    for i in range(3)]
        assert request_skipping_pushes(b, "user:conversations", {"tid": "c"})["body"][0]["unread_count"] == 3
        for kind in ("text:delivered", "text:seen"):
            b.send("42" + json.dumps([kind, {"tid": kind, "cid": cid, "from": b_member,
                                             "body": {"event_id": text_ids[1]}}]))
        listed = request_skipping_pushes(b, "conversation:events", {"tid": "e", "cid": cid, "body": {}})
        assert listed["complete"] is True
        by_id = {e["id"]: e for e in listed["body"]}
        state = by_id[text_ids[1]]["state"]
        assert set(state["seen_by"]) == {b_member} and set(state["delivered_to"]) == {b_member}
        assert by_id[text_ids[0]]["state"] == {"seen_by": {}, "delivered_to": {}}
        assert request_skipping_pushes(b, "user:conversations", {"tid": "c2"})["body"][0]["unread_count"] == 1
        # bob leaves; alice goes on; bob's catch-up after its last id is explicitly cut at his leave
        request_skipping_pushes(b, "conversation:member:delete", {"tid": "l", "cid": cid,
                                                                  "body": {"member_id": b_member}})
        request_skipping_pushes(a, "text", {"tid": "late", "cid": cid, "from": a_member, "body": {"text": "late"}})
        after = request_skipping_pushes(b, "conversation:events",
                                        {"tid": "e2", "cid": cid, "body": {"start_id": text_ids[-1] + 1}})
        assert after["complete"] is False
        assert [e["type"] for e in after["body"]][-1] == "member:left"
        assert after["served_up_to"] == after["body"][-1]["id"]


def reply_to(socket: ClientConnection, name: str, payload: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Send a request and return its reply (name and body), skipping events pushed meanwhile."""
    socket.send("42" + json.dumps([name, payload]))
    while True:
        reply_name, reply = next_event(socket)
        if reply.get("rid") == payload["tid"]:
            return reply_name, reply


def request_skipping_pushes(socket: ClientConnection, name: str, payload: dict[str, Any]) -> dict[str, Any]:
    reply_name, reply = reply_to(socket, name, payload)
    assert reply_name == f"{name}:success", (reply_name, reply)
    return reply


def test_conversation_delete_is_for_its_creator(parley_server: Server) -> None:
    with two_users(parley_server) as (_, a, bob, b):
        cid = request_skipping_pushes(a, "new:conversation", {"tid": "n", "body": {}})["body"]["id"]
        request_skipping_pushes(b, "conversation:join", {"tid": "j", "cid": cid, "body": {"user_name": bob}})
        assert reply_to(b, "conversation:delete", {"tid": "d1", "cid": cid})[0] == \
            "conversation:error:permission-denied"
        assert request_skipping_pushes(a, "conversation:delete", {"tid": "d2", "cid": cid})["cid"] == cid
        assert reply_to(a, "conversation:get", {"tid": "g", "cid": cid})[0] == \
            "conversation:error:not-found"

def test_a_tokens_acl_governs_every_socket_request(parley_server: Server) -> None:
    name = f"acl-{time.time_ns()}"
    admin_post(parley_server, "/v1/users", {"name": name})
    read_only = {"paths": {"/*/sessions/**": {}, "/*/users/**": {"methods": ["GET"]},
                           "/*/conversations/**": {"methods": ["GET"]}}}
    with rtc(parley_server) as socket:
        login(socket, parley_server, name, acl=read_only)
        assert request(socket, "user:conversations", {"tid": "a"})[0] == "user:conversations:success"
        reply_name, reply = request(socket, "new:conversation", {"tid": "b", "body": {}})
        assert (reply_name, reply["rid"]) == ("system:error:permission", "b")
        assert "POST /v1/conversations" in reply["description"]


def test_after_logout_requests_are_refused_as_logged_out_not_by_the_old_acl(parley_server: Server) -> None:
    name = f"acl-out-{time.time_ns()}"
    admin_post(parley_server, "/v1/users", {"name": name})
    with rtc(parley_server) as socket:
        login(socket, parley_server, name, acl={"paths": {"/*/sessions/**": {}}})
        assert request(socket, "session:logout", {"tid": "o", "body": {}})[0] == "session:logged-out"
        assert request(socket, "user:conversations", {"tid": "u"})[0] == "session:invalid"



def test_a_frame_over_the_announced_max_payload_closes_only_that_socket(parley_server: Server) -> None:
    with rtc(parley_server) as socket:
        with pytest.raises(ConnectionClosed) as closed:  # the close may come while the frame is still being sent
            socket.send("4" + "x" * 1_000_001)
            socket.recv(timeout=5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009  # message too big
    with rtc(parley_server) as other:
        other.send("2")
        assert other.recv(timeout=5) == "3"  # the server goes on
