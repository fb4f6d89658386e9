"""The websocket side of one connection: events out (with the failure knobs), the
record of what went each way, and closing.

Every server event gets a fresh `event_id`. The failure knobs act here, on the wire:
`drop_after_events` aborts the TCP connection without a close frame (a network
failure), `malformed_after_events` slips one non-JSON frame in. `sent`, `received`
and `timeline` are what tests and benchmarks inspect afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import TYPE_CHECKING, Any, Protocol

from .ids import new_id

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Coroutine

    from .errors import Json, ProtocolError
    from .options import EmulatorOptions


class Socket(Protocol):
    """What a connection needs of its socket: aiohttp's server websocket, or a
    WebRTC call's data channel (webrtc.py)."""

    @property
    def closed(self) -> bool:
        """Whether the socket is closed."""

    async def send_str(self, data: str) -> None:
        """Send one text frame."""

    async def close(self, *, code: int = ..., message: bytes = ...) -> bool:
        """Close the socket."""

    def __aiter__(self) -> AsyncIterator[Any]:
        """The frames that arrive, until the socket closes."""


class PlayedAudio(Protocol):
    """A WebRTC call's output audio (webrtc.py): the model's voice goes to the
    call's audio track instead of `response.output_audio.delta` events, and the
    server knows what was played."""

    def play(self, response_id: str, item_id: str, pcm: bytes) -> None:
        """Queue 24 kHz PCM16 of an assistant item for playback."""

    def response_done(self, response_id: str) -> None:
        """No more audio will come for this response."""

    async def interrupt(self) -> None:
        """Clear the output buffer; truncate what was not played."""


class Transport:
    """Sends and records the events of one socket; owns its background tasks."""

    def __init__(
        self,
        ws: Socket,
        abort: Callable[[], None],
        options: Callable[[], EmulatorOptions],
    ) -> None:
        """Wrap an accepted socket; `abort()` cuts its connection without a close
        frame; `options()` gives the current knobs."""
        self.ws = ws
        self._abort = abort
        self._options = options
        self.sent: list[Json] = []
        self.received: list[Json] = []
        # (time.perf_counter(), "in" | "out", event type): when things happened, for
        # benchmarks that separate the emulator's share of a latency from the client's.
        self.timeline: list[tuple[float, str, str]] = []
        self.closed = False
        self._tasks: set[asyncio.Task[Any]] = set()
        self._malformed_sent = False

    @property
    def options(self) -> EmulatorOptions:
        """The knobs as they are now (tests change or replace them)."""
        return self._options()

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run `coro` as a task of this connection (cancelled when it closes)."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _mark(self, direction: str, event: Json) -> None:
        if len(self.timeline) < self.options.received_limit:
            self.timeline.append(
                (time.perf_counter(), direction, str(event.get("type")))
            )

    def record(self, event: Json) -> None:
        """Keep a client event (up to `received_limit`)."""
        if len(self.received) < self.options.received_limit:
            self.received.append(event)
            self._mark("in", event)

    async def send(self, event: Json) -> None:
        """Send a server event with a fresh event_id, applying the failure knobs."""
        if self.closed or self.ws.closed:
            return
        event = {"event_id": new_id("event_"), **event}
        options = self.options
        if (
            options.drop_after_events is not None
            and len(self.sent) >= options.drop_after_events
        ):
            await self.drop()
            return
        if (
            options.malformed_after_events is not None
            and len(self.sent) >= options.malformed_after_events
            and not self._malformed_sent
        ):
            self._malformed_sent = True
            await self.ws.send_str('{"type": "response.output_text.delta", "delta": ')
        self.sent.append(event)
        self._mark("out", event)
        try:
            await self.ws.send_str(json.dumps(event))
        except (ConnectionError, RuntimeError):
            self.closed = True

    async def error(self, err: ProtocolError, event_id: str | None) -> None:
        """Send the `error` event for a rejected client event."""
        await self.send(err.event(event_id))

    async def drop(self) -> None:
        """Abort the TCP connection without a close frame (a network failure)."""
        self.closed = True
        self._abort()
        for task in list(self._tasks):
            if task is not asyncio.current_task():
                task.cancel()

    async def close(self, code: int = 1000, message: str = "") -> None:
        """Close the websocket and stop every task of the connection."""
        self.closed = True
        current = asyncio.current_task()
        tasks = [t for t in self._tasks if t is not current]
        for task in tasks:
            task.cancel()
        if not self.ws.closed:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await self.ws.close(code=code, message=message.encode())
        await asyncio.gather(*tasks, return_exceptions=True)

    async def close_quietly(self, code: int, message: str) -> None:
        """Close the websocket only (from a task of this connection)."""
        self.closed = True
        with contextlib.suppress(ConnectionError, RuntimeError):
            await self.ws.close(code=code, message=message.encode())
