"""The socket dialects (issue 4): Engine.IO 3 on `/rtc` and Engine.IO 4 on `/v2/rtc`, both carrying socket.io
packets. Only the wire codecs exist so far; the transports and the hub come next."""
