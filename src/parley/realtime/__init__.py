"""The real-time hub: which sockets of this process belong to whom, and fan-out of committed events."""
