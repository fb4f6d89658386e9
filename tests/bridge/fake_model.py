"""A scripted stand-in for a realtime session, for fast tests of the bridge's state.

Behaviour through Home Assistant is tested against the emulator over a real
websocket (tests/ha); these fakes only let the turn state machine, the pool and
the tool bridge be tested without one. They implement the part of
`RealtimeSession` the bridge uses, and record what was asked of them.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from custom_components.openai_realtime.realtime import events as ev
from custom_components.openai_realtime.realtime.session import (
    HistoryEntry,
    ResponseStream,
)


@dataclass(eq=False)
class FakeSession:
    """Records requests; responses are finished by the test with `finish`."""

    config: ev.SessionConfig | None = None
    history: list[HistoryEntry] = field(default_factory=list)
    closed: bool = False
    responses: list[ResponseStream] = field(default_factory=list)
    cancelled: list[ResponseStream] = field(default_factory=list)
    configured: list[ev.SessionConfig] = field(default_factory=list)
    replayed: list[HistoryEntry] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    cancel_seen: asyncio.Event = field(default_factory=asyncio.Event)

    async def configure(self, config: ev.SessionConfig, **_: Any) -> dict[str, Any]:
        self.configured.append(config)
        self.config = config
        return {}

    async def create_response(self, **_: Any) -> ResponseStream:
        stream = ResponseStream(f"ref-{len(self.responses)}")
        self.responses.append(stream)
        return stream

    async def cancel_response(self, stream: ResponseStream | None = None) -> None:
        if stream is not None:
            self.cancelled.append(stream)
            finish(stream, status="cancelled")  # as the server ends it
        self.cancel_seen.set()

    async def delete_item(self, item_id: str) -> None:
        self.deleted.append(item_id)

    async def replay(self, entries: list[HistoryEntry]) -> None:
        self.replayed += entries
        self.history += entries

    def add_listener(self, _listener: Any) -> Any:
        return lambda: None

    async def close(self) -> None:
        self.closed = True


def finish(
    stream: ResponseStream,
    response_id: str = "resp_1",
    *,
    status: str = "completed",
    output: list[dict[str, Any]] | None = None,
) -> None:
    """End a response the way the session does when `response.done` arrives."""
    stream._feed(ev.ResponseDone(response_id, status, None, output or [], None))
