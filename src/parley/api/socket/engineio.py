"""Engine.IO packets and polling payloads, protocol versions 3 (socket.io-client 2.x) and 4 (socket.io-client 4.x).

Written by hand rather than taken from python-engineio because no maintained release serves both versions: 5.x
refuses EIO=3 and the 3.x line is 2020-era code (client-wire-protocols.md §1.10). The format is small:
- a packet is its type digit followed by its data (`4hello` is a message `hello`);
- a polling payload joins packets with the record separator in v4 (`4a\\x1e4b`) and prefixes each with its
  length in v3 (`2:4a2:4b`), a length counted in UTF-16 code units because that is what a JavaScript string's
  `length` is.
Only text packets are supported: the Vonage SDKs send JSON, never binary attachments.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import TypeVar

RECORD_SEPARATOR = "\x1e"
Kind = TypeVar("Kind", bound=IntEnum)


class ProtocolError(ValueError):
    """A frame or payload that is not valid Engine.IO for the version in use."""


class PacketType(IntEnum):
    OPEN = 0
    CLOSE = 1
    PING = 2
    PONG = 3
    MESSAGE = 4
    UPGRADE = 5
    NOOP = 6


@dataclass(frozen=True)
class Packet:
    type: PacketType
    data: str = ""


def encode_packet(packet: Packet) -> str:
    return f"{int(packet.type)}{packet.data}"


def leading_type(text: str, kinds: type[Kind], protocol: str) -> Kind:
    """The packet type both layers start their packets with: one digit."""
    if not text or not text[0].isascii() or not text[0].isdigit():
        raise ProtocolError(f"not a {protocol} packet: {text[:20]!r}")
    try:
        return kinds(int(text[0]))
    except ValueError as exc:
        raise ProtocolError(f"unknown {protocol} packet type {text[0]}") from exc


def decode_packet(frame: str) -> Packet:
    return Packet(leading_type(frame, PacketType, "Engine.IO"), frame[1:])


def utf16_length(text: str) -> int:
    """A JavaScript string's `length`: astral characters (emoji) count twice."""
    return len(text.encode("utf-16-le")) // 2


def encode_payload(packets: list[Packet], version: int) -> str:
    """Packets for one polling response."""
    return join_frames([encode_packet(packet) for packet in packets], version)


def join_frames(frames: list[str], version: int) -> str:
    """Already encoded packets (`4…`, as queued for a socket) for one polling response."""
    if version >= 4:
        return RECORD_SEPARATOR.join(frames)
    return "".join(f"{utf16_length(frame)}:{frame}" for frame in frames)


def decode_payload(body: str, version: int) -> list[Packet]:
    """Packets of one polling request body."""
    if version >= 4:
        return [decode_packet(frame) for frame in body.split(RECORD_SEPARATOR)] if body else []
    return [decode_packet(frame) for frame in _v3_frames(body)]


def _v3_frames(body: str) -> list[str]:
    frames: list[str] = []
    position = 0
    while position < len(body):
        colon = body.find(":", position)
        digits = body[position:colon]
        if colon < 0 or not digits.isascii() or not digits.isdigit() or len(digits) > 9:
            raise ProtocolError("malformed Engine.IO 3 payload length")
        units, start = int(digits), colon + 1
        end = _advance_utf16(body, start, units)
        frames.append(body[start:end])
        position = end
    return frames


def _advance_utf16(text: str, start: int, units: int) -> int:
    """The index `units` UTF-16 code units after `start`."""
    index = start
    while units > 0:
        if index >= len(text):
            raise ProtocolError("Engine.IO 3 payload shorter than its length prefix")
        units -= 2 if ord(text[index]) > 0xFFFF else 1
        index += 1
    if units < 0:
        raise ProtocolError("Engine.IO 3 length splits a character")
    return index
