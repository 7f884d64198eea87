"""Server time. Time stamps are always the server's, UTC, ISO 8601 with milliseconds."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """`2019-09-03T18:40:24.324Z`: the form every client parses, and it sorts as text."""
    # isoformat is several times faster than strftime, and this runs for every event
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    return moment.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"
