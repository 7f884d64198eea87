"""socket.io packets (the layer inside Engine.IO messages), as socket.io-client 2.x and 4.x encode them:
`<type>[<namespace>,][<ack id>][<json data>]`, e.g. `42["text:success",{"rid":"…"}]` or `0/admin,{"token":"…"}`.
Binary packets (types 5 and 6) are refused: the Vonage SDKs never send attachments."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any

import orjson

from parley.api.socket.engineio import ProtocolError, leading_type

DEFAULT_NAMESPACE = "/"
MAX_ACK_DIGITS = 15


class SocketType(IntEnum):
    CONNECT = 0
    DISCONNECT = 1
    EVENT = 2
    ACK = 3
    CONNECT_ERROR = 4  # "ERROR" in the protocol of socket.io 2.x; the same number
    BINARY_EVENT = 5
    BINARY_ACK = 6


@dataclass(frozen=True)
class SocketPacket:
    type: SocketType
    data: Any = None
    namespace: str = DEFAULT_NAMESPACE
    ack_id: int | None = None


def encode(packet: SocketPacket) -> str:
    parts = [str(int(packet.type))]
    if packet.namespace != DEFAULT_NAMESPACE:
        parts.append(packet.namespace + ",")
    if packet.ack_id is not None:
        parts.append(str(packet.ack_id))
    if packet.data is not None:
        parts.append(orjson.dumps(packet.data).decode())
    return "".join(parts)


def event(name: str, payload: Any, namespace: str = DEFAULT_NAMESPACE) -> SocketPacket:
    """An EVENT packet, the shape of every request and reply of the Vonage dialects: `[name, payload]`."""
    return SocketPacket(SocketType.EVENT, [name, payload], namespace)


def decode(text: str) -> SocketPacket:
    kind = leading_type(text, SocketType, "socket.io")
    if kind in (SocketType.BINARY_EVENT, SocketType.BINARY_ACK):
        raise ProtocolError("binary socket.io packets are not supported")
    position = 1
    namespace = DEFAULT_NAMESPACE
    if position < len(text) and text[position] == "/":
        comma = text.find(",", position)
        end = comma if comma >= 0 else len(text)
        namespace, position = text[position:end], min(end + 1, len(text))
    digits_end = position
    while digits_end < len(text) and text[digits_end].isascii() and text[digits_end].isdigit():
        digits_end += 1
    if digits_end - position > MAX_ACK_DIGITS:
        raise ProtocolError("socket.io ack id too long")
    ack_id = int(text[position:digits_end]) if digits_end > position else None
    data = None
    if digits_end < len(text):
        try:
            data = orjson.loads(text[digits_end:])
        except orjson.JSONDecodeError as exc:
            raise ProtocolError(f"socket.io packet data is not JSON: {exc.msg}") from exc
    if kind is SocketType.EVENT and not (isinstance(data, list) and data and isinstance(data[0], str)):
        raise ProtocolError("a socket.io event must be a JSON array starting with its name")
    return SocketPacket(kind, data, namespace, ack_id)
