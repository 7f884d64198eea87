"""Images and push registration on `/rtc`, driven by a Python client: the IPS upload over HTTP, the `image` request
and its receipts over the socket, and the Android SDK's `push:*` requests (no JS SDK sends those)."""

from __future__ import annotations

import io
import json
import time
from typing import Any

import httpx
import jwt
from PIL import Image
from websockets.sync.client import ClientConnection

from tests.e2e.conftest import Server
from tests.e2e.test_legacy_socket import admin_post, request, rtc, user_token


def frames(socket: ClientConnection, count: int) -> dict[str, dict[str, Any]]:
    """The next `count` socket.io events, by name (a request's reply and pushed events arrive in either order)."""
    received = {}
    for _ in range(count):
        frame = str(socket.recv(timeout=5))
        assert frame.startswith("42"), frame
        name, body = json.loads(frame[2:])
        received[name] = body
    return received


def still_quiet(socket: ClientConnection) -> None:
    socket.send("2")
    assert socket.recv(timeout=5) == "3"  # the next frame is the pong: nothing else was pushed


def chat(server: Server, *names: str) -> tuple[str, dict[str, str]]:
    """A conversation with each user JOINED; returns its id and the member ids by user name."""
    conversation = admin_post(server, "/v1/conversations", {"name": f"chat-{time.time_ns()}"})
    members = {}
    for name in names:
        admin_post(server, "/v1/users", {"name": name})
        members[name] = admin_post(server, f"/v1/conversations/{conversation['id']}/members",
                                   {"state": "joined", "user": {"name": name}, "channel": {"type": "app"}})["id"]
    return conversation["id"], members


def login(server: Server, socket: ClientConnection, name: str, **device: str) -> None:
    body = {"token": user_token(server, name), **device}
    assert request(socket, "session:login", {"tid": f"login-{name}", "body": body})[0] == "session:success"


def read_state(server: Server, cid: str, name: str) -> dict[str, Any]:
    response = httpx.get(f"{server.url}/v1/conversations/{cid}/members/me/read-state", timeout=10,
                         headers={"Authorization": f"Bearer {user_token(server, name)}"})
    assert response.status_code == 200, response.text
    state: dict[str, Any] = response.json()
    return state


def jpeg(size: tuple[int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, "blue").save(out, "JPEG")
    return out.getvalue()


def test_an_image_is_uploaded_sent_fetched_and_seen(parley_server: Server) -> None:
    suffix = time.time_ns()
    alice, bob = f"alice-{suffix}", f"bob-{suffix}"
    cid, members = chat(parley_server, alice, bob)
    uploaded = httpx.post(f"{parley_server.url}/v1/image", timeout=10,
                          headers={"Authorization": f"Bearer {user_token(parley_server, alice)}"},
                          files={"file": ("photo.jpg", jpeg((300, 200)), "image/jpeg")},
                          data={"quality_ratio": "100", "medium_size_ratio": "50", "thumbnail_size_ratio": "30"})
    assert uploaded.status_code == 200, uploaded.text
    representations = uploaded.json()
    assert representations["thumbnail"]["url"] == f"{parley_server.url}/v3/media/{representations['thumbnail']['id']}"

    with rtc(parley_server) as a, rtc(parley_server) as b:
        login(parley_server, a, alice)
        login(parley_server, b, bob)
        send = {"tid": "img-1", "cid": cid, "from": members[alice], "body": {"representations": representations}}
        a.send("42" + json.dumps(["image", send]))
        got = frames(a, 2)
        reply = got["image:success"]
        assert reply["rid"] == "img-1" and isinstance(reply["body"]["id"], int)
        pushed = frames(b, 1)["image"]
        assert (pushed["id"], pushed["cid"], pushed["from"], pushed["body"]) == (
            reply["body"]["id"], cid, members[alice], {"representations": representations})
        assert got["image"] == pushed  # the sender's own copy too
        assert request(a, "image", send) == ("image:success", reply)  # the same tid: the same event, no copy
        still_quiet(b)

        # bob fetches the thumbnail with his own token, as ImageEvent.fetchImage does
        thumbnail = httpx.get(pushed["body"]["representations"]["thumbnail"]["url"], timeout=10,
                              headers={"Authorization": f"Bearer {user_token(parley_server, bob)}"})
        assert thumbnail.status_code == 200
        assert thumbnail.headers["content-type"] == "image/jpeg"
        assert Image.open(io.BytesIO(thumbnail.content)).size == (90, 60)

        # receipts: bob's client sends image:delivered by itself, then image:seen; alice gets both
        image_id = reply["body"]["id"]
        assert read_state(parley_server, cid, bob)["unread_count"] == 1  # the image counts as unread
        for receipt in ("image:delivered", "image:seen"):
            ask = {"tid": f"r-{receipt}", "cid": cid, "from": members[bob], "body": {"event_id": image_id}}
            b.send("42" + json.dumps([receipt, ask]))
            assert frames(b, 2)[f"{receipt}:success"]["rid"] == f"r-{receipt}"
            seen = frames(a, 1)[receipt]
            assert (seen["from"], seen["body"]) == (members[bob], {"event_id": image_id})
            # the receipts move bob's horizons, as text receipts do
            state = read_state(parley_server, cid, bob)
            horizon = "seen_event_id" if receipt == "image:seen" else "delivered_event_id"
            assert (state[horizon], state["unread_count"]) == (image_id, 0 if receipt == "image:seen" else 1)
        # a receipt for an event that does not exist, or a malformed one: an error reply, the socket stays up
        missing = request(b, "image:seen", {"tid": "r-x", "cid": cid, "from": members[bob],
                                            "body": {"event_id": image_id + 100}})
        assert missing == ("event:error:not-found", {"rid": "r-x", "type": "event:error:not-found",
                                                     "description": missing[1]["description"]})
        assert request(b, "image:delivered", {"tid": "r-y", "cid": cid, "from": members[bob],
                                              "body": {"event_id": "one"}})[0] == "http:error:validation-fail"
        bad = request(a, "image", {"tid": "img-2", "cid": cid, "from": members[alice], "body": {"representations": 3}})
        assert bad[0] == "http:error:validation-fail" and bad[1]["rid"] == "img-2"
        as_bob = request(a, "image", {"tid": "img-3", "cid": cid, "from": members[bob], "body": send["body"]})
        assert as_bob[0] == "event:error:permission-denied"  # only as one's own member
        still_quiet(a)
        still_quiet(b)

    history = httpx.get(f"{parley_server.url}/v1/conversations/{cid}/events?event_type=image,image:seen",
                        headers={"Authorization": f"Bearer {user_token(parley_server, alice)}"}, timeout=10)
    assert [(e["type"], e["body"]) for e in history.json()["_embedded"]["events"]] == [
        ("image", {"representations": representations}), ("image:seen", {"event_id": image_id})]


def test_push_registration_over_the_socket(parley_server: Server) -> None:
    suffix = time.time_ns()
    alice, bob = f"alice-{suffix}", f"bob-{suffix}"
    cid, _ = chat(parley_server, alice)
    admin_post(parley_server, "/v1/users", {"name": bob})
    with rtc(parley_server) as a, rtc(parley_server) as b:
        # the Android SDK's login names its device; push:register then gives the push token
        login(parley_server, a, alice, device_id=f"phone-{suffix}", device_type="android")
        assert request(a, "push:register", {"tid": "p1", "body": {"device_token": "fcm-token-1"}}) == (
            "push:register:success", {"rid": "p1", "body": {"device_id": f"phone-{suffix}", "device_type": "android"}})
        assert request(a, "push:subscribe", {"tid": "p2", "body": {"cid": cid}}) == (
            "push:subscribe:success", {"rid": "p2", "body": {"cid": cid}})
        assert request(a, "push:unsubscribe", {"tid": "p3", "body": {"cid": cid}})[0] == "push:unsubscribe:success"

        # refusals are `<request>:error` events carrying the API's code; the socket stays healthy
        name, refused = request(a, "push:register", {"tid": "p4", "body": {}})
        assert (name, refused["rid"], refused["type"], refused["code"]) == (
            "push:register:error", "p4", "push:register:error", "device:error:invalid")
        name, refused = request(a, "push:register", {"tid": "p5", "body": {"device_token": "t",
                                                                          "device_type": "toaster"}})
        assert (name, refused["code"]) == ("push:register:error", "device:error:invalid")
        name, refused = request(a, "push:subscribe", {"tid": "p6", "body": {"cid": "CON-nope"}})
        assert (name, refused["code"]) == ("push:subscribe:error", "conversation:error:not-found")
        for tid, bad in (("p6a", {"device_token": "  "}), ("p6b", {"device_token": "t", "device_id": "\x00"}),
                         ("p6c", {"device_token": "t" * 5000}), ("p6d", {"device_token": 7})):
            name, refused = request(a, "push:register", {"tid": tid, "body": bad})
            assert (name, refused["code"]) == ("push:register:error", "device:error:invalid"), bad

        # a login without a device cannot register one unless the request names it
        login(parley_server, b, bob)
        name, refused = request(b, "push:register", {"tid": "q1", "body": {"device_token": "fcm-token-2"}})
        assert (name, refused["code"]) == ("push:register:error", "device:error:invalid")
        assert request(b, "push:register", {"tid": "q2", "body": {
            "device_token": "fcm-token-2", "device_id": f"tablet-{suffix}", "device_type": "ios"}})[1]["body"] == {
            "device_id": f"tablet-{suffix}", "device_type": "ios"}
        name, refused = request(b, "push:subscribe", {"tid": "q3", "body": {"cid": cid}})  # not bob's conversation
        assert (name, refused["code"]) == ("push:subscribe:error", "conversation:error:not-found")
        # bob cannot unregister alice's phone; alice can, once
        name, refused = request(b, "push:unregister", {"tid": "q4", "body": {"device_id": f"phone-{suffix}"}})
        assert (name, refused["code"]) == ("push:unregister:error", "device:error:not-found")
        assert request(a, "push:unregister", {"tid": "p7", "body": {"device_id": f"phone-{suffix}"}}) == (
            "push:unregister:success", {"rid": "p7", "body": {"device_id": f"phone-{suffix}"}})
        name, refused = request(a, "push:unregister", {"tid": "p8", "body": {"device_id": f"phone-{suffix}"}})
        assert (name, refused["code"]) == ("push:unregister:error", "device:error:not-found")

        assert request(a, "session:logout", {"tid": "p12", "body": {}})[0] == "session:logged-out"
        name, refused = request(a, "push:register", {"tid": "p13", "body": {"device_token": "x"}})
        assert (name, refused.get("code")) == ("push:register:error", "session:invalid"), refused

        # a token whose ACL grants conversations only may not register devices
        now = int(time.time())
        chat_only = jwt.encode({"application_id": parley_server.app_id, "iat": now, "exp": now + 600, "sub": alice,
                                "acl": {"paths": {"/*/conversations/**": {}, "/*/sessions/**": {}}}},
                               parley_server.private_key.read_text(), algorithm="RS256")
        assert request(a, "session:login", {"tid": "p9", "body": {"token": chat_only}})[0] == "session:success"
        assert request(a, "push:register", {"tid": "p10", "body": {"device_id": "d", "device_token": "t"}})[0] == (
            "system:error:permission")
        assert request(a, "push:subscribe", {"tid": "p11", "body": {"cid": cid}})[0] == "system:error:permission"
        still_quiet(a)
        still_quiet(b)
