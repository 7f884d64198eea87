"""A client socket as the hub sees it, for the hub's ordering tests: it records the frames pushed to it."""

from __future__ import annotations

from dataclasses import dataclass, field

from parley.domain.models import Event


@dataclass(eq=False)
class RecordingSocket:
    """The frames pushed to one connection, in order; each frame is its event's id."""

    application_id: str
    user_id: str
    frames: list[str] = field(default_factory=list)

    @staticmethod
    def encoder(event: Event) -> str:
        return str(event.id)

    def push(self, frame: str) -> None:
        self.frames.append(frame)
