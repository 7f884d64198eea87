"""A client socket as the hub sees it, for the hub's tests: it records the frames pushed to it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from parley.domain.models import Event


def event_id(event: Event) -> str:
    return str(event.id)


@dataclass(eq=False)
class RecordingSocket:
    """The frames pushed to one connection, in order; a frame is what `encoder` makes of its event (its id)."""

    application_id: str
    user_id: str
    frames: list[str] = field(default_factory=list)
    encoder: Callable[[Event], str] = event_id

    def push(self, frame: str) -> None:
        self.frames.append(frame)

    def take(self) -> list[str]:
        """The frames pushed since the last take."""
        taken, self.frames = self.frames, []
        return taken
