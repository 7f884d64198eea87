"""Engine.IO 3/4 framing and socket.io packets, against frames as the real socket.io clients write them."""

from __future__ import annotations

import pytest

from parley.api.socket import socketio
from parley.api.socket.engineio import (
    Packet,
    PacketType,
    ProtocolError,
    decode_packet,
    decode_payload,
    encode_packet,
    encode_payload,
    utf16_length,
)
from parley.api.socket.socketio import SocketPacket, SocketType

OPEN = '0{"sid":"abc","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":5000}'


def test_packets_round_trip() -> None:
    assert decode_packet(OPEN) == Packet(PacketType.OPEN, OPEN[1:])
    assert encode_packet(Packet(PacketType.PONG, "probe")) == "3probe"
    assert decode_packet("2") == Packet(PacketType.PING)
    for bad in ("", "x", "9"):
        with pytest.raises(ProtocolError):
            decode_packet(bad)


def test_engineio3_payloads_count_utf16_units() -> None:
    packets = [Packet(PacketType.OPEN, OPEN[1:]), Packet(PacketType.MESSAGE, "0")]
    assert encode_payload(packets, 3) == f"{len(OPEN)}:{OPEN}2:40"
    emoji = Packet(PacketType.MESSAGE, '2["text",{"body":{"text":"hi 👋"}}]')
    frame = encode_packet(emoji)
    assert utf16_length(frame) == len(frame) + 1  # the emoji is two UTF-16 units
    body = encode_payload([emoji, Packet(PacketType.PING)], 3)
    assert body.startswith(f"{len(frame) + 1}:")
    assert decode_payload(body, 3) == [emoji, Packet(PacketType.PING)]


@pytest.mark.parametrize("body", ["5:4abc", "x:4", "3:4a", "2:4\U0001f44b"])
def test_engineio3_malformed_payloads_are_refused(body: str) -> None:
    with pytest.raises(ProtocolError):
        decode_payload(body, 3)


def test_engineio4_payloads_use_the_record_separator() -> None:
    packets = [Packet(PacketType.MESSAGE, "hello"), Packet(PacketType.MESSAGE, "wörld 👋")]
    assert encode_payload(packets, 4) == "4hello\x1e4wörld 👋"
    assert decode_payload("4hello\x1e4wörld 👋", 4) == packets
    assert decode_payload("", 4) == []


def test_socketio_events_as_the_vonage_sdks_send_them() -> None:
    text = '42["text",{"tid":"t-1","cid":"CON-1","from":"MEM-1","body":{"text":"hi"}}]'
    packet = socketio.decode(text[1:])  # after the Engine.IO message type
    assert packet == SocketPacket(SocketType.EVENT,
                                  ["text", {"tid": "t-1", "cid": "CON-1", "from": "MEM-1", "body": {"text": "hi"}}])
    reply = socketio.encode(socketio.event("text:success", {"rid": "t-1", "body": {"id": 7}}))
    assert reply == '2["text:success",{"rid":"t-1","body":{"id":7}}]'


def test_socketio_namespaces_acks_and_connect() -> None:
    assert socketio.decode("0") == SocketPacket(SocketType.CONNECT)
    assert socketio.decode('0{"token":"x"}') == SocketPacket(SocketType.CONNECT, {"token": "x"})
    assert socketio.decode("0/admin,") == SocketPacket(SocketType.CONNECT, namespace="/admin")
    assert socketio.decode('3/chat,12["ok"]') == SocketPacket(SocketType.ACK, ["ok"], "/chat", 12)
    assert socketio.decode('212["ping",{}]') == SocketPacket(SocketType.EVENT, ["ping", {}], ack_id=12)
    round_trip = SocketPacket(SocketType.ACK, ["ok"], "/chat", 12)
    assert socketio.decode(socketio.encode(round_trip)) == round_trip
    assert socketio.encode(SocketPacket(SocketType.CONNECT, {"sid": "s"})) == '0{"sid":"s"}'


@pytest.mark.parametrize("text", ["", "x", "7", '51-["a",{"_placeholder":true,"num":0}]', "2{}", '2["a"', "2[1]",
                                  "2" + "9" * 20 + '["a"]'])
def test_socketio_malformed_or_binary_packets_are_refused(text: str) -> None:
    with pytest.raises(ProtocolError):
        socketio.decode(text)
