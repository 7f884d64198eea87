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
from websockets.exceptions import InvalidStatus
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
